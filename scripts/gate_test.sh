#!/usr/bin/env bash
# Proves make gate works, in about 4 minutes on 2 cores, plus the makespan
# row: 10 rounds of about 1 s per gate run, 6 s before dispatch spreads work
# over the workers (not part of go test):
#
#   1. planted regression: head's queue manager sleeps 200us before each
#      batch it sends a worker (ALPCRUN_GATE_INJECT_DELAY, read by
#      services/queuemanager/inject.go); the gate must fail, and its base-vs-
#      head check among others.
#   2. A/A: HEAD against HEAD; the gate must pass.
#
# Run: scripts/gate_test.sh   (the working tree must hold inject.go's hook)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
grep -qs 'injectDispatchDelay()' services/queuemanager/worker.go ||
  { echo "gate_test: no injectDispatchDelay hook in services/queuemanager/worker.go" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gate_test.XXXXXX")
echo "gate_test: raw results in $tmp"
ok=true

echo "=== 1. planted regression (ALPCRUN_GATE_INJECT_DELAY=200us in head): want FAIL"
GATE_BASE=HEAD GATE_HEAD_ENV=ALPCRUN_GATE_INJECT_DELAY=200us GATE_OUT=$tmp/planted \
  ./scripts/gate.sh | tee "$tmp/planted.log"
rc=${PIPESTATUS[0]}
if ((rc != 1)); then
  echo "gate_test: planted regression: gate exited $rc, want 1" >&2
  ok=false
elif ! grep -q '^FAIL compare' "$tmp/planted.log"; then
  echo "gate_test: planted regression: base vs head did not fail" >&2
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
