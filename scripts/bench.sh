#!/usr/bin/env bash
# make bench: runs the lab's benchmark suites and writes
# results/<date>_<commit>[-dirty]/ with env.txt, the raw Go benchmark text of
# each suite, benchstat reports comparing the kinds, markdown tables of
# medians, and plots.
#
#   COUNT=10     passes. Each pass runs every suite once (-count=1), so that a
#                slow spell of a noisy machine hits every kind alike, rather
#                than all ten runs of one kind.
#   BENCH=.      a go test -bench pattern. Its first /-element picks suites by
#                top-level benchmark name (bash regex), the rest narrows the
#                sub-benchmarks: BENCH='Queue/impl=lockfree/prod=4'. A | outside
#                parentheses separates alternatives, as in go test, each
#                picking its own suites: BENCH='Queue/impl=lockfree|Idle'.
#   BENCHTIME=   -benchtime for every suite (2s, 5000x); unset, each suite
#                uses its own default below, else go test's 1s.
#   RESULTS=     output directory instead of the dated one.
#   E2E_GRID=    small (default) or full: the e2e suite's rows, the complete
#                cross product for full (bench/grid_test.go).
#
# Needs only Go: benchstat is fetched through the module proxy at the version
# pinned below, and cmd/benchplot draws the plots.
set -euo pipefail
shopt -s lastpipe # the progress reader runs in this shell and keeps its counts
cd "$(dirname "$0")/.."
export GIT_OPTIONAL_LOCKS=0

COUNT=${COUNT:-10}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-}
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

# Suites: name | package | top-level benchmark | unit of the end summary, as
# benchstat prints it | default -benchtime. A suite whose package or
# benchmark does not exist yet is skipped.
#
# Run time, COUNT=10 on 2 cores: the queue, idle, scheduler and cache
# suites took 157 s a pass timed at load 18 (other jobs on the machine);
# about 105-115 s quiet, going by the committed run
# results/2026-11-27_d590227. e2e is BenchmarkE2EMatrix's small grid, 104
# rows (bench/grid_test.go): one pass took 140 s at 500ms and load 12, and
# 32 of its rows took 1.15 s each at 300ms, 1.27 s at 500ms: most of a row
# is b.N's ramp-up, a fresh system per round (80 ms with 64 workers) and
# final rounds that fall short of -benchtime, not the timed part. At 300ms
# that is about 90 s a pass quiet, so about 200 s a pass in all: 34 minutes
# with building and reports, and 45 on a machine as busy as the one timed.
# makespan is BenchmarkMakespan, one round (a fresh system) per row and
# pass: 15 rows of about 0.75 s of ideal makespan each, about 15 s a pass
# when dispatch keeps the workers busy, 2.5 minutes at COUNT=10. A dispatch
# that binds one worker stretches each row by up to its worker count: about
# 4 minutes a pass. deployed is BenchmarkDeployed: the queue manager and
# the relay each as a process of its own (bench/deployed_test.go), 6 rows
# of about 1.5 s, about 10 s a pass.
SUITES=(
  "queue|./core/queue|BenchmarkQueue|sec/op|300ms"
  "idle|./core/queue|BenchmarkIdle|cpu%|200x"
  "scheduler|./core/scheduler|BenchmarkSchedule|sec/op|300ms"
  "e2e|./bench|BenchmarkE2EMatrix|tasks/s|300ms"
  "cache|./bench|BenchmarkCache|p50-sec|"
  "makespan|./bench|BenchmarkMakespan|efficiency|1x"
  "deployed|./bench|BenchmarkDeployed|tasks/s|1s"
)
# Reports: suite | file | benchstat arguments, |-separated. The first of a
# suite is its end summary. In e2e every row's name holds impl, policy
# (none for the relay) and shared. Each e2e table compares one dimension on
# the rows where every column has a value, so that its geomeans compare,
# with the other dimensions at their defaults (kind and policy priority,
# shared off) and the relay as the first column: read each change as the
# ratio to the relay.
REPORTS=(
  "queue|queue-by-impl.txt|-col|/impl"
  "idle|idle-by-impl.txt|-col|/impl"
  "scheduler|scheduler-by-policy.txt|-col|/policy"
  "e2e|e2e-vs-relay.txt|-filter|/impl:relay OR (/impl:priority /policy:priority)|-col|/impl|-ignore|/policy"
  "e2e|e2e-by-impl.txt|-filter|/shared:off (/policy:priority OR /impl:relay) ((/workers:4 /payload:64) OR /inflight:1)|-col|/impl|-ignore|/policy"
  "e2e|e2e-by-policy.txt|-filter|/shared:off (/impl:relay OR /impl:priority) ((/batch:100 /payload:64) OR /inflight:1)|-col|/policy|-ignore|/impl"
  "e2e|e2e-by-shared.txt|-filter|(/impl:relay OR /impl:priority) (/policy:priority OR /policy:none) ((/workers:4 /payload:64 (/batch:1 OR /batch:100)) OR (/workers:64 /batch:100 /payload:4096) OR /inflight:1)|-col|/shared@(off on)"
  "cache|cache-by-kind.txt|-col|/kind"
  "deployed|deployed-vs-relay.txt|-col|/impl"
)
# Summaries: suite | cmd/benchplot -kind summary flags, the columns as in
# the suite's first report: the end summary's line, which compares only the
# rows every column has (benchstat's geomeans do not: a kind with fewer
# rows gets a geomean of other rows). The metric is the suite's unit.
SUMMARIES=(
  "queue|-x impl"
  "idle|-x impl"
  "scheduler|-x policy"
  "e2e|-x impl -ignore policy -filter impl=relay|priority,policy=none|priority"
  "cache|-x kind"
  "deployed|-x impl"
)
# Tables: suite | file | cmd/benchplot -kind table flags: a markdown table
# of medians per row, the first metric with its min and max. A suite with a
# table shows it in the end summary.
TABLES=(
  "makespan|makespan.md|-metric efficiency,makespan-s,ideal-s,workers-used -x task,workers,send"
)
# Plots: suite | file | title | cmd/benchplot flags. Every e2e plot but the
# ratio's keeps the relay as a series.
PLOTS=(
  "queue|queue-ns.png|Queue kinds: ns/op by producers x consumers|-metric ns/op -x prod,cons -series impl -panel batch -logy"
  "queue|queue-allocs.png|Queue kinds: allocs/op by producers x consumers|-metric allocs/op -x prod,cons -series impl -panel batch"
  "idle|idle-cpu.png|Idle queue: CPU use per kind|-kind bar -metric cpu% -x impl"
  "scheduler|scheduler-ns.png|Scheduler policies: ns/op (one event) by sessions x workers|-metric ns/op -x sessions,workers -series policy -panel preempt -logy"
  "e2e|e2e-tasks.png|End to end under load: tasks/s by workers (default policy, no shared data)|-metric tasks/s -x workers -series impl -panel batch,payload -filter shared=off,impl=relay|priority,policy=priority|none,inflight!=1"
  "e2e|e2e-tasks-by-batch.png|End to end under load: tasks/s by batch size per queue kind (default policy, no shared data)|-metric tasks/s -x batch -series impl -panel workers,payload -filter shared=off,policy=priority|none,inflight!=1 -logy"
  "e2e|e2e-p99.png|End to end under load: p99 task latency (ns) by workers per scheduler policy (priority kind, no shared data)|-metric p99-ns -x workers -series policy -panel batch,payload -filter shared=off,impl=relay|priority,inflight!=1 -logy"
  "e2e|e2e-ratio.png|End to end under load: queue manager tasks/s over the relay's of the same shape|-kind point -metric tasks/s -ratio impl=relay -ratio-by shared,workers,batch,payload,inflight -x workers,batch -series impl,policy -panel payload,shared -filter inflight!=1"
  "e2e|e2e-idle-latency.png|End to end, one batch in flight: p50 task latency (ns)|-kind bar -metric p50-ns -x impl -series policy -panel shared -filter inflight=1"
  "cache|cache-p50.png|Shared data: p50 latency (ns) of a Get by payload size|-metric p50-ns -x size -series kind -logy"
  "makespan|makespan-efficiency.png|Makespan efficiency by task duration and workers (1 = every slot busy)|-kind bar -metric efficiency -x task -series workers -panel send -ref 1"
)

die() {
  echo >&2
  echo "bench: $*" >&2
  exit 1
}
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || die "COUNT=$COUNT: want a positive integer"

# Pick the suites. BENCH splits into alternatives at each | outside
# parentheses and brackets, as go test splits -bench; each alternative's
# first /-element picks suites, and a suite runs the alternatives that picked
# it, anchored to its own benchmark, so that another suite's benchmark in
# the same package (BenchmarkIdle next to BenchmarkQueue) stays out of it.
alternatives() { # pattern: one alternative per line
  local s=$1 i c depth=0 class=0 cur=""
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
    \\) cur+=${s:i:2}; ((i++)); continue ;;
    "[") class=$((class + 1)) ;;
    "]") class=$((class > 0 ? class - 1 : 0)) ;; # a lone ] is a literal
    "(") depth=$((class ? depth : depth + 1)) ;;
    ")") depth=$((class ? depth : depth - 1)) ;;
    "|") if ((depth == 0 && class == 0)); then
        echo "$cur"
        cur=""
        continue
      fi ;;
    esac
    cur+=$c
  done
  echo "$cur"
}
mapfile -t alts < <(alternatives "$BENCH")
declare -A pattern
active=()
for s in "${SUITES[@]}"; do
  IFS='|' read -r name pkg fn _ <<<"$s"
  pat=""
  for a in "${alts[@]}"; do
    top=${a%%/*}
    [[ $fn =~ ${top:-.} ]] || continue
    sub=""
    [[ $a != */* ]] || sub=/${a#*/}
    pat+=${pat:+|}^$fn\$$sub
  done
  [[ -n $pat ]] || continue
  pattern[$name]=$pat
  if [[ ! -d $pkg ]]; then
    echo "bench: skip $name: $pkg does not exist yet" >&2
  elif ! grep -qs "^func $fn(" "$pkg"/*_test.go; then
    echo "bench: skip $name: no $fn in $pkg" >&2
  else
    active+=("$s")
  fi
done
((${#active[@]})) || die "no suite to run for BENCH=$BENCH"

# Where results go: the date and commit, never over an earlier run.
if [[ -n ${RESULTS:-} ]]; then
  out=$RESULTS
else
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
  if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    commit+=-dirty
  fi
  out=results/$(date +%F)_$commit
  base=$out
  for ((n = 2; ; n++)); do
    [[ -e $out ]] || break
    out=$base-$n
  done
fi
fresh=false
[[ -e $out ]] || fresh=true
mkdir -p "$out/tmp"
trap 'rm -rf "$out/tmp"' EXIT
tmp=$(cd "$out/tmp" && pwd)

# Build everything first, so that a compile error or an unreachable module
# proxy shows now and not after an hour of benchmarks.
echo "bench: results in $out/; building" >&2
{
  ./scripts/envinfo.sh
  echo "bench-count: $COUNT"
  echo "bench-pattern: $BENCH"
  for s in "${active[@]}"; do
    IFS='|' read -r name _ _ _ benchtime <<<"$s"
    benchtime=${BENCHTIME:-$benchtime}
    echo "bench-time-$name: ${benchtime:-1s}"
  done
} >"$out/env.txt"
go build -o "$tmp/benchplot" ./cmd/benchplot
go run "$BENCHSTAT" /dev/null >/dev/null
declare -A bin
for s in "${active[@]}"; do
  IFS='|' read -r _ pkg _ <<<"$s"
  if [[ -z ${bin[$pkg]:-} ]]; then
    bin[$pkg]=$tmp/$(tr -c 'A-Za-z0-9\n' _ <<<"${pkg#./}").test
    go test -c -o "${bin[$pkg]}" "$pkg"
  fi
done

# Progress goes to stderr: a live line on a terminal; otherwise a line every
# 10 s at most, and one per suite and pass. The total is known once the first
# pass has counted.
tty=false
width=0
if [[ -t 2 ]]; then
  tty=true
  width=$(tput cols 2>/dev/null || echo 100)
fi
done=0
total=0
start=$SECONDS
clock() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
status() { # pass suite [benchmark]
  local tot=$total eta=""
  ((total)) || tot='?'
  if ((total && done)); then
    eta=", $(clock $(((SECONDS - start) * (total - done) / done))) left"
  fi
  printf '[ %*d/%s%s ] pass %d/%d %s%s' ${#tot} "$done" "$tot" "$eta" "$1" "$COUNT" "$2" "${3:+: $3}"
}
progress() { # pass suite; reads the benchmark output
  local line msg last=$SECONDS
  while IFS= read -r line; do
    if [[ $line =~ ^(Benchmark[^[:space:]]+)[[:space:]]+[0-9]+[[:space:]] ]]; then
      done=$((done + 1))
      msg=$(status "$1" "$2" "${BASH_REMATCH[1]}")
      if $tty; then
        printf '\r\033[K%s' "${msg:0:width-1}" >&2 # one row, or \r cannot redraw it
      elif ((SECONDS - last >= 10)); then
        echo "$msg" >&2
        last=$SECONDS
      fi
    fi
  done
  if $tty; then printf '\r\033[K' >&2; fi
  printf '%s done, %s elapsed\n' "$(status "$1" "$2")" "$(clock $((SECONDS - start)))" >&2
}

for ((pass = 1; pass <= COUNT; pass++)); do
  for s in "${active[@]}"; do
    IFS='|' read -r name pkg fn _ benchtime <<<"$s"
    args=(-test.run '^$' -test.bench "${pattern[$name]}" -test.count 1 -test.benchmem -test.timeout 30m)
    benchtime=${BENCHTIME:-$benchtime}
    [[ -z $benchtime ]] || args+=(-test.benchtime "$benchtime")
    # The binary runs in its package directory, as go test would run it.
    if ! (cd "$pkg" && "${bin[$pkg]}" "${args[@]}") | tee -a "$out/$name.txt" | progress "$pass" "$name"; then
      grep -E -A5 '^(--- FAIL|panic:)' "$out/$name.txt" | head -n 30 >&2 || true
      die "$name failed in pass $pass; its output is in $out/$name.txt"
    fi
  done
  if ((pass == 1)); then
    if ((done == 0)); then
      if $fresh; then rm -rf "$out"; fi
      die "BENCH=$BENCH matched no benchmark"
    fi
    total=$((done * COUNT))
  fi
done

# Reports and plots.
active_suite() { # name: whether the suite ran
  local s
  for s in "${active[@]}"; do [[ ${s%%|*} == "$1" ]] && return 0; done
  return 1
}
for r in "${REPORTS[@]}"; do
  IFS='|' read -ra f <<<"$r"
  active_suite "${f[0]}" || continue
  go run "$BENCHSTAT" "${f[@]:2}" "$out/${f[0]}.txt" >"$out/${f[1]}"
done
for t in "${TABLES[@]}"; do
  IFS='|' read -r name file flags <<<"$t"
  active_suite "$name" && [[ -s $out/$name.txt ]] || continue
  read -ra fl <<<"$flags"
  "$tmp/benchplot" -kind table -in "$out/$name.txt" -out "$out/$file" "${fl[@]}" ||
    echo "bench: table $file failed; the raw results are complete" >&2
done
for p in "${PLOTS[@]}"; do
  IFS='|' read -r name file title flags <<<"$p"
  active_suite "$name" && [[ -s $out/$name.txt ]] || continue
  read -ra fl <<<"$flags"
  "$tmp/benchplot" -in "$out/$name.txt" -out "$out/$file" -title "$title" "${fl[@]}" ||
    echo "bench: plot $file failed; the raw results and reports are complete" >&2
done

echo >&2
echo "bench: $done results in $(clock $((SECONDS - start))) written to $out/" >&2
for s in "${active[@]}"; do
  IFS='|' read -r name _ _ unit _ <<<"$s"
  for t in "${TABLES[@]}"; do
    IFS='|' read -r tname file _ <<<"$t"
    [[ $tname == "$name" && -s $out/$file ]] || continue
    echo "  $name, $unit (median of $COUNT), $file:" >&2
    sed 's/^/    /' "$out/$file" >&2
  done
  for m in "${SUMMARIES[@]}"; do
    IFS='|' read -r sname flags <<<"$m"
    [[ $sname == "$name" && -s $out/$name.txt ]] || continue
    file=""
    for r in "${REPORTS[@]}"; do
      [[ ${r%%|*} == "$name" ]] && IFS='|' read -r _ file _ <<<"$r" && break
    done
    echo "  $name, $unit: median per row, geomean per column, change vs the first column (p-values in ${file:-$name.txt}):" >&2
    read -ra fl <<<"$flags"
    "$tmp/benchplot" -in "$out/$name.txt" -kind summary -metric "$unit" "${fl[@]}" 2>&1 | sed 's/^/    /' >&2 || true
  done
done
for f in "$out"/*; do
  [[ $f == "$out/tmp" ]] || echo "  ${f##*/}" >&2
done
