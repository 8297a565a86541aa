#!/usr/bin/env bash
# make gate: a short, fixed set of end-to-end benchmarks judged four ways.
# Exit 0 passes, 1 fails, 2 is an error in the gate itself.
#
#   (a) floors    the queue manager's tasks/s, p50 and p99 as ratios to the
#                 relay measured in the same run, against fixed slack.
#   (b) paired    the merge base against HEAD: both test binaries run once
#                 per round, side by side, and each round gives a ratio
#                 head/base per row and unit. A check fails when the
#                 signed-rank test finds head worse at p < 0.05 (one-sided)
#                 and the Hodges-Lehmann estimate of the change is above the
#                 check's limit (CHECKS below). Its main signal is the
#                 process's CPU time per task at the loaded shape: other
#                 jobs on the machine slow the clock but barely change it
#                 (a pair's ratio scatters by about 5%, time per task's by
#                 30%).
#   (c) baseline  the tasks/s and p50 ratios of (a) against those of
#                 results/baseline/gate.txt (make gate-baseline), each allowed
#                 to lose 35%: on 2 cores shared with other jobs the loaded
#                 tasks/s ratio ranged 0.78x-0.99x between unchanged runs.
#                 p99 ratios get only their floor: two A/A runs saw the
#                 loaded one at 1.00x and 1.51x.
#   (d) makespan  HEAD's median makespan efficiency (ideal over measured
#                 makespan, bench/BenchmarkMakespan) of 10 ms tasks on 16
#                 workers of 2 slots, sent with the client SDK's defaults,
#                 against an absolute floor, 0.75: whether dispatch keeps
#                 every worker busy, which the echo rows cannot see.
#
# Rows: BenchmarkE2E impl=relay and impl=priority at workers=4 batch=100
# payload=64 inflight=64 (loaded) and workers=1 batch=1 inflight=1 (idle).
# (b) and (c) gate the priority rows; the relay rows are the yardstick of
# (a) and (c) and run in head only.
# BenchmarkMakespan task=10ms/workers=16/send=sdk, one round (a fresh
# system, 2,400 tasks, 0.75 s of ideal makespan) per gate round, HEAD only.
#
# Why that makespan row and floor. Its tasks sleep, so a busy machine slows
# the dispatch around them but not the tasks: 32 slots of 10 ms are 3,200
# tasks/s, well under 1% of what the queue manager moves on 2 cores, and
# 10 ms is long enough that timer slack (tens of microseconds) does not
# count. A dispatch that keeps the workers busy measures about 0.9 on a
# quiet machine; 0.75 leaves a quarter of a second per round for binding
# 16 workers and a loaded scheduler, and the median of the rounds ignores a
# slow one. A dispatch that leaves half the workers idle scores 0.5 at
# best, one worker alone 1/16: they fail with a wide margin.
#
#   GATE_BASE=     the base revision. Default: git merge-base HEAD origin/main
#                  when that differs from HEAD, else HEAD~1. Empty after
#                  resolution (one commit): (b) is skipped.
#   GATE_HEAD=     build head from this revision instead of the working tree.
#   GATE_HEAD_ENV= VAR=value pairs set for the head binary only; the planted
#                  regressions of scripts/gate_test.sh and
#                  scripts/gate_power.sh use it.
#   GATE_ROUNDS=16 interleaved rounds (each binary -count 1 per round).
#   GATE_OUT=      where raw results go (default: a fresh temp directory,
#                  kept and printed).
#   GATE_MAKESPAN_JUDGE=1  1, the default: (d) fails the gate below the
#                  floor (dispatch before work stealing scored about 0.15,
#                  after it 0.83-0.95 on a loaded 2-core machine). 0: (d) is
#                  measured and printed as "info", never failing.
#   GATE_MAKESPAN_FLOOR=0.75  (d)'s floor.
#
#   scripts/gate.sh baseline   refreshes results/baseline/ (make gate-baseline)
set -euo pipefail
cd "$(dirname "$0")/.."
export GIT_OPTIONAL_LOCKS=0

BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
ROUNDS=${GATE_ROUNDS:-16}
QM=priority
# shape | -benchtime, about 0.3-0.5 s each on 2 cores: many short rounds
# pair better than a few long ones, since each round's pair shares one
# spell of the machine. The idle shape runs for a time, not a count: a
# regression there (one sleep per task) would otherwise stretch the gate
# tenfold.
SHAPES=(
  "workers=4/batch=100/payload=64/inflight=64|500000x"
  "workers=1/batch=1/payload=64/inflight=1|0.3s"
)
# (b)'s checks, row:unit:limit. CPU per task at the loaded shape is the
# sharp one: a pair's ratio scatters by about 5% on a busy 2-core machine,
# so the estimate over 16 rounds by about 1.3%, and 5% is well clear of
# both no change and a 10% regression (results/README.md, the power table).
# Time per task and latency catch what costs no CPU (waiting, a lock held
# too long) but scatter more, so they are held to 20%: time per task by
# 30% a pair; the idle p50 by 6% a pair in most runs, but it has two modes
# (about 37 and 52 us on the Xeon VM) and an A/A run with the slow one in
# 13 of 16 head rounds estimated +14.6% at p = 0.007. Allocations are
# counted, not timed: the idle row's 67 per task moves by one in a round
# or two of an A/A run, the loaded row's bytes per task by under 1%.
CHECKS=batch=100/:cpu-ns/op:0.05,batch=100/:ns/op:0.20,batch=1/:p50-ns:0.20,batch=1/:allocs/op:0.03,batch=100/:B/op:0.05
# (a) and (c): see scripts/gatecheck. The committed run
# results/2026-11-27_d590227 had priority/relay 0.87x tasks/s and 1.12x p99
# loaded, 1.21x p50 and 1.29x p99 idle: the floors leave room for noise and a
# slower machine, not for a queue manager at half the relay's speed.
FLOORS=(-min-tasks 0.5 -max-p50 2.0 -max-p99 2.0)
BASELINE_MARGIN=0.35
MAKESPAN_ROW=task=10ms/workers=16/send=sdk
MAKESPAN_FLOOR=${GATE_MAKESPAN_FLOOR:-0.75}
MAKESPAN_JUDGE=${GATE_MAKESPAN_JUDGE:-1}

mode=${1:-gate}
die() {
  echo "gate: $*" >&2
  exit 2
}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "GATE_ROUNDS=$ROUNDS: want a positive integer"
[[ $mode == gate || $mode == baseline ]] || die "unknown mode $mode: want gate or baseline"
[[ $MAKESPAN_JUDGE == 0 || $MAKESPAN_JUDGE == 1 ]] || die "GATE_MAKESPAN_JUDGE=$MAKESPAN_JUDGE: want 0 or 1"
start=$SECONDS

out=${GATE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gate.XXXXXX")}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$(mktemp -d "${TMPDIR:-/tmp}/gate-src.XXXXXX")
trap 'rm -rf "$src"' EXIT

# build rev dest: a test binary of ./bench at rev, or of the working tree
# when rev is empty. git archive leaves the repository's state alone. Both
# carry the planted-regression hook (build tag gateinject,
# services/queuemanager/inject.go), which production builds lack.
build() {
  local dir=.
  if [[ -n $1 ]]; then
    dir=$src/$(git rev-parse --short "$1")
    mkdir -p "$dir"
    git archive "$1" | tar -x -C "$dir"
  fi
  (cd "$dir" && go test -tags gateinject -c -o "$2" ./bench)
}

base=""
if [[ $mode == gate ]]; then
  if [[ -n ${GATE_BASE+set} ]]; then
    base=$GATE_BASE
  elif git rev-parse -q --verify origin/main >/dev/null &&
    [[ $(git merge-base HEAD origin/main) != $(git rev-parse HEAD) ]]; then
    base=$(git merge-base HEAD origin/main)
  else
    base=$(git rev-parse -q --verify HEAD~1 || true)
  fi
fi

# The signed-rank test's smallest p over n rounds is 2^-n: under 5 rounds
# (b) cannot reach p < 0.05.
if [[ -n $base ]] && ((ROUNDS < 5)); then
  echo "gate: GATE_ROUNDS=$ROUNDS: (b) needs 5 rounds or more to fail at all" >&2
fi
echo "gate: building (results in $out)" >&2
go build -o "$src/gatecheck" ./scripts/gatecheck
go run "$BENCHSTAT" /dev/null >/dev/null
build "${GATE_HEAD:-}" "$src/head.test"
if [[ -n $base ]]; then
  echo "gate: base $(git rev-parse --short "$base"), head ${GATE_HEAD:-working tree}" >&2
  build "$base" "$src/base.test" || {
    echo "gate: base $base does not build; base-vs-head skipped" >&2
    base=""
  }
fi
read -ra headenv <<<"${GATE_HEAD_ENV:-}"

# anchored pattern: a/b/c as ^a$/^b$/^c$, each level matched whole.
anchored() { echo "^${1//\//\$/^}\$"; }

# run which: one pass of every shape, appended to $out/which.txt (the relay
# rows in head only), and for head in gate mode one makespan round, appended
# to $out/makespan.txt. The binaries run in bench/, as go test would run
# them.
run() {
  local bin=$src/$1.test envs=() impls=$QM s shape benchtime
  [[ $1 == head ]] && envs=("${headenv[@]}") && impls="relay|$QM"
  for s in "${SHAPES[@]}"; do
    IFS='|' read -r shape benchtime <<<"$s"
    (cd bench && env "${envs[@]}" "$bin" -test.run '^$' -test.count 1 -test.benchmem \
      -test.bench "^BenchmarkE2E\$/^impl=($impls)\$/$(anchored "$shape")" \
      -test.benchtime "$benchtime" -test.timeout 10m) >>"$out/$1.txt" ||
      die "$1 benchmark failed; its output is in $out/$1.txt"
  done
  if [[ $1 == head && $mode == gate ]]; then
    (cd bench && env "${envs[@]}" "$bin" -test.run '^$' -test.count 1 -test.benchmem \
      -test.bench "$(anchored "BenchmarkMakespan/$MAKESPAN_ROW")" -test.benchtime 1x -test.timeout 10m) \
      >>"$out/makespan.txt" || die "head makespan benchmark failed; its output is in $out/makespan.txt"
  fi
}
rm -f "$out/base.txt" "$out/head.txt" "$out/makespan.txt"
for ((r = 1; r <= ROUNDS; r++)); do
  # Alternate who goes first, so that neither always runs on a warmer or
  # cooler machine.
  if [[ -z $base ]]; then
    run head
  elif ((r % 2)); then
    run base
    run head
  else
    run head
    run base
  fi
  echo "gate: round $r/$ROUNDS done, $((SECONDS - start))s" >&2
done
grep -q '^Benchmark' "$out/head.txt" || die "no benchmark ran; see $out/head.txt"

if [[ $mode == baseline ]]; then
  mkdir -p results/baseline
  cp "$out/head.txt" results/baseline/gate.txt
  ./scripts/envinfo.sh >results/baseline/env.txt
  echo "gate-rounds: $ROUNDS" >>results/baseline/env.txt
  go run "$BENCHSTAT" -col /impl results/baseline/gate.txt >results/baseline/gate-by-impl.txt
  [[ -n ${GATE_OUT:-} ]] || rm -rf "$out"
  echo "gate: results/baseline/ refreshed in $((SECONDS - start))s; commit it" >&2
  exit 0
fi

failed=false
echo "gate: (a) floors: $QM vs relay in this run" >&2
"$src/gatecheck" floors -in "$out/head.txt" -qm "$QM" "${FLOORS[@]}" || failed=true
if [[ -n $base ]]; then
  echo "gate: (b) base vs head, paired by round (benchstat's view in $out/compare.txt)" >&2
  go run "$BENCHSTAT" "$out/base.txt" "$out/head.txt" >"$out/compare.txt" 2>/dev/null
  "$src/gatecheck" paired -base "$out/base.txt" -head "$out/head.txt" -rows "impl=$QM/" -checks "$CHECKS" -alpha 0.05 ||
    failed=true
else
  echo "gate: (b) skipped: no base revision" >&2
fi
if [[ -s results/baseline/gate.txt ]]; then
  echo "gate: (c) against results/baseline/gate.txt" >&2
  "$src/gatecheck" baseline -in "$out/head.txt" -baseline results/baseline/gate.txt -qm "$QM" -margin "$BASELINE_MARGIN" \
    -units tasks/s,p50-ns ||
    failed=true
else
  echo "gate: (c) skipped: no results/baseline/gate.txt (make gate-baseline)" >&2
fi
judge=false
if ((MAKESPAN_JUDGE)); then
  judge=true
  echo "gate: (d) makespan efficiency, floor $MAKESPAN_FLOOR" >&2
else
  echo "gate: (d) makespan efficiency, reported only (GATE_MAKESPAN_JUDGE=1 judges it against $MAKESPAN_FLOOR)" >&2
fi
"$src/gatecheck" makespan -in "$out/makespan.txt" -row "$MAKESPAN_ROW" -floor "$MAKESPAN_FLOOR" -judge="$judge" ||
  failed=true

if $failed; then
  echo "gate: FAIL in $((SECONDS - start))s; raw results and benchstat tables in $out" >&2
  exit 1
fi
echo "gate: ok in $((SECONDS - start))s; raw results in $out" >&2
