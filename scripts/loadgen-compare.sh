#!/usr/bin/env bash
# make loadgen-up / make loadgen-compose: starts a cluster, runs cmd/loadgen
# against it twice (run A, then run B), and compares the runs with benchstat.
#
#   scripts/loadgen-compare.sh up        `alpcrun up` in the background, plaintext
#   scripts/loadgen-compare.sh compose   deploy/compose.yaml (images from make
#                                        images), TLS + API key, echo workers
#
# Writes results/loadgen/<date>_<commit>[-dirty]/ (or $LOADGEN_OUT):
#   <target>-a.txt, <target>-b.txt      loadgen --format bench (configuration
#                                       lines commit:, target:, ...)
#   <target>-a-summary.txt, -b-         loadgen's summary table of each run
#   <target>-a-vs-b.txt                 benchstat A vs B
#   up-vs-compose.txt                   benchstat -col target over all four
#                                       files, once both targets have run
# The terminal gets loadgen's progress and summaries and benchstat's tables
# of tasks/s, p50 and p99. It fails when a run had errors (lost tasks).
#   <target>-env.txt                    the machine (scripts/envinfo.sh)
# Both targets write into the same folder for the same day and commit, so
# the second one can compare against the first; a target run again
# replaces its own files.
#
# Environment:
#   LOADGEN_BATCH=1,100      --batch (a list: one benchmark per value)
#   LOADGEN_DURATION=2s      measured time per run, after LOADGEN_WARMUP=500ms
#   LOADGEN_COUNT=6          passes over the matrix (benchstat's samples)
#   LOADGEN_ARGS=            more loadgen flags, e.g. "--inflight 200 --sessions 2"
#   LOADGEN_WORKERS=4        workers of `alpcrun up` (compose runs four)
#   LOADGEN_UP_PORT=17337    first port of `alpcrun up`: the queue manager on
#                            it (HTTP +1), central cache +10 (+11), node
#                            cache +20 (+21); all on 127.0.0.1
#   LOADGEN_PROJECT=alpcrun-loadgen   compose project name
#   LOADGEN_READY_TIMEOUT=120         seconds to wait for the cluster
#   LOADGEN_OUT=             output folder
#   IMAGE_TAG=latest         images of the compose cluster
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
export GIT_OPTIONAL_LOCKS=0

BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
GO=${GO:-go}
target=${1:-}
batch=${LOADGEN_BATCH:-1,100}
duration=${LOADGEN_DURATION:-2s}
warmup=${LOADGEN_WARMUP:-500ms}
count=${LOADGEN_COUNT:-6}
workers=${LOADGEN_WORKERS:-4}
base_port=${LOADGEN_UP_PORT:-17337}
project=${LOADGEN_PROJECT:-alpcrun-loadgen}
ready_timeout=${LOADGEN_READY_TIMEOUT:-120}
read -r -a extra <<<"${LOADGEN_ARGS:-}"

say() { echo "loadgen-$target: $*" >&2; }
die() {
  say "$*"
  exit 1
}
case $target in
  up | compose) ;;
  *)
    echo "usage: $0 up|compose" >&2
    exit 2
    ;;
esac
[[ $count =~ ^[1-9][0-9]*$ ]] || die "LOADGEN_COUNT=$count: want a positive integer"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  commit+=-dirty
fi
out=${LOADGEN_OUT:-results/loadgen/$(date -u +%F)_$commit}
mkdir -p "$out"

work=$(mktemp -d)
server_pid=""
compose=()
dc() { "${compose[@]}" -p "$project" -f deploy/compose.yaml "$@"; }
# stop_server: SIGTERM, which drains the workers and stops the services;
# SIGKILL if that takes more than 15s.
stop_server() {
  local deadline=$((SECONDS + 15))
  kill -TERM "$server_pid" 2>/dev/null || return 0
  while kill -0 "$server_pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "alpcrun up did not stop in 15s; killing it"
      kill -KILL "$server_pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  wait "$server_pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  if [[ -n $server_pid ]]; then
    if ((rc != 0)); then
      say "last lines of alpcrun up's log:"
      tail -n 20 "$work/up.log" >&2 || true
    fi
    stop_server
  fi
  if ((${#compose[@]})); then
    if ((rc != 0)); then
      say "last lines of the containers' logs:"
      dc logs --no-color --tail 20 >&2 || true
    fi
    say "tearing down compose project $project"
    dc down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Everything that compiles happens before the cluster starts.
say "building loadgen and benchstat"
pkgs=(./cmd/loadgen)
[[ $target == up ]] && pkgs+=(./cmd/alpcrun)
[[ $target == compose ]] && pkgs+=(./deploy/certs)
$GO build -o "$work/" "${pkgs[@]}"
GOBIN=$work $GO install "$BENCHSTAT"

# metric_sum URL NAME: the sum of a Prometheus metric's series, or nothing.
metric_sum() {
  curl -fsS --max-time 2 "$1" 2>/dev/null |
    awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF; n++ } END { if (n) printf "%d\n", s }'
}

# wait_ready HTTP_ADDR WORKERS: polls the queue manager's /readyz, then its
# metrics until WORKERS workers are registered, for ready_timeout seconds;
# fails at once if the server process ends.
wait_ready() {
  local http=$1 want=$2 deadline=$((SECONDS + ready_timeout)) n=""
  until curl -fsS --max-time 2 "http://$http/readyz" >/dev/null 2>&1; do
    [[ -z $server_pid ]] || kill -0 "$server_pid" 2>/dev/null || die "alpcrun up exited"
    ((SECONDS < deadline)) || die "the queue manager at $http was not ready in ${ready_timeout}s"
    sleep 0.2
  done
  until n=$(metric_sum "http://$http/metrics" alpcrun_workers) && [[ -n $n ]] && ((n >= want)); do
    [[ -z $server_pid ]] || kill -0 "$server_pid" 2>/dev/null || die "alpcrun up exited"
    ((SECONDS < deadline)) || die "${n:-0} of $want workers registered after ${ready_timeout}s"
    sleep 0.2
  done
  say "ready: $n workers registered"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

conn=()
case $target in
  up)
    qm=127.0.0.1:$base_port qm_http=127.0.0.1:$((base_port + 1))
    cc=127.0.0.1:$((base_port + 10)) cc_http=127.0.0.1:$((base_port + 11))
    nc=127.0.0.1:$((base_port + 20)) nc_http=127.0.0.1:$((base_port + 21))
    # A server already on a port would answer the readiness poll for ours.
    for a in "$qm" "$qm_http" "$cc" "$cc_http" "$nc" "$nc_http"; do
      ! port_busy "${a##*:}" || die "port ${a##*:} is in use; set LOADGEN_UP_PORT to a free range"
    done
    # The workers match the compose cluster's: 4 with 2 task slots each.
    say "starting alpcrun up on $qm ($workers workers, echo)"
    "$work/alpcrun" up --workers "$workers" --concurrency 2 --task echo --loglevel warn \
      --queueManager.listen "$qm" --queueManager.httpListen "$qm_http" \
      --centralCache.listen "$cc" --centralCache.httpListen "$cc_http" \
      --nodeCache.listen "$nc" --nodeCache.httpListen "$nc_http" >"$work/up.log" 2>&1 &
    server_pid=$!
    wait_ready "$qm_http" "$workers"
    conn=(--queue-manager "$qm" --central-cache "$cc")
    ;;
  compose)
    source deploy/scripts/compose.sh
    find_compose loadgen || exit 1
    "$work/certs" -dir "$work/tls" >/dev/null
    export ALPCRUN_CERTS=$work/tls ALPCRUN_TASK=echo
    ALPCRUN_API_KEY=$(cat "$work/tls/api-key")
    export ALPCRUN_API_KEY METALCORE_API_KEY=$ALPCRUN_API_KEY
    # Host ports are random (127.0.0.1::1337 in compose.yaml): a cluster of
    # another project runs beside this one.
    say "starting compose project $project (workers: echo)"
    dc down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
    dc up -d --no-build 2>&1 | sed 's/^/  /'
    port() { dc port "$1" "$2" | tail -n1; }
    qm=$(port queue-manager 1337) qm_http=$(port queue-manager 1338) cc=$(port central-cache 2337)
    [[ -n $qm && -n $qm_http && -n $cc ]] || die "no published ports: qm=$qm qm_http=$qm_http cc=$cc"
    wait_ready "$qm_http" 4
    conn=(--queue-manager "$qm" --central-cache "$cc" --tls --ca-cert "$work/tls/ca.pem")
    ;;
esac

./scripts/envinfo.sh >"$out/$target-env.txt"
for run in a b; do
  say "run ${run^^}: --batch $batch, $count passes of ${warmup} + ${duration} -> $out/$target-$run.txt"
  "$work/loadgen" "${conn[@]}" --batch "$batch" --count "$count" --tasks 0 --warmup-tasks 0 \
    --duration "$duration" --warmup "$warmup" --progress 1s \
    --commit "$commit" --label "target=$target" "${extra[@]}" \
    --format bench --out "$out/$target-$run.txt" | tee "$out/$target-$run-summary.txt"
done

# The files get every unit; the terminal the three that matter.
brief=(-filter '.unit:(tasks/s OR p50-ns OR p99-ns)')
compare() { # compare FILE BENCHSTAT-ARGS...: full tables to FILE, brief ones to the terminal
  local file=$1
  shift
  (cd "$out" && "$work/benchstat" "$@" >"$file" && "$work/benchstat" "${brief[@]}" "$@")
}
say "benchstat A vs B (all units: $out/$target-a-vs-b.txt)"
compare "$target-a-vs-b.txt" "$target-a.txt" "$target-b.txt"
if [[ -f $out/up-a.txt && -f $out/compose-a.txt ]]; then
  say "benchstat up vs compose, runs A and B of each (all units: $out/up-vs-compose.txt)"
  compare up-vs-compose.txt -col target up-a.txt up-b.txt compose-a.txt compose-b.txt
fi

# A task lost or answered twice is a failure of the cluster, not noise.
bad=$(awk '/^Benchmark/ { for (i = 3; i <= NF; i++) if ($i == "errors" && $(i - 1) != 0) n++ } END { print n + 0 }' \
  "$out/$target-a.txt" "$out/$target-b.txt")
((bad == 0)) || die "$bad runs had errors (lost, duplicated or unknown results): see $out/$target-?-summary.txt"
say "results in $out"
