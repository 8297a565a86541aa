#!/usr/bin/env bash
# Proves make gate works, in two gate runs (not part of go test):
#
#   1. planted regression: head's queue manager spins 400 ns of CPU per task
#      before each batch it sends a worker (ALPCRUN_GATE_INJECT_CPU, read by
#      services/queuemanager/inject.go), about +20% CPU per task at the
#      gate's loaded shape; the gate must fail on its base-vs-head CPU check.
#   2. A/A: HEAD against HEAD; the gate must pass.
#
# scripts/gate_power.sh measures how often the gate fails, over many runs
# and smaller plantings.
#
# Run: scripts/gate_test.sh   (HEAD must hold inject.go's hook)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
git grep -q 'injectTaskCPU(' HEAD -- services/queuemanager/worker.go ||
  { echo "gate_test: no injectTaskCPU hook in HEAD's services/queuemanager/worker.go" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gate_test.XXXXXX")
echo "gate_test: raw results in $tmp"
ok=true

echo "=== 1. planted regression (ALPCRUN_GATE_INJECT_CPU=400ns in head): want FAIL"
GATE_BASE=HEAD GATE_HEAD=HEAD GATE_HEAD_ENV=ALPCRUN_GATE_INJECT_CPU=400ns GATE_OUT=$tmp/planted \
  ./scripts/gate.sh | tee "$tmp/planted.log"
rc=${PIPESTATUS[0]}
if ((rc != 1)); then
  echo "gate_test: planted regression: gate exited $rc, want 1" >&2
  ok=false
elif ! grep -q '^FAIL paired   cpu-ns/op' "$tmp/planted.log"; then
  echo "gate_test: planted regression: base vs head's CPU per task did not fail" >&2
  ok=false
fi

echo "=== 2. A/A (HEAD vs HEAD): want ok"
GATE_BASE=HEAD GATE_HEAD=HEAD GATE_OUT=$tmp/aa ./scripts/gate.sh
rc=$?
if ((rc != 0)); then
  echo "gate_test: A/A: gate exited $rc, want 0" >&2
  ok=false
fi

if $ok; then
  echo "gate_test: ok: the planted regression fails the gate, A/A passes"
else
  echo "gate_test: FAIL"
  exit 1
fi
