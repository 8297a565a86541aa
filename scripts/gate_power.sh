#!/usr/bin/env bash
# Measures the power of make gate: how often it fails with a planted CPU
# regression of each size, and how often it fails with none (A/A, HEAD
# against HEAD). Each gate run builds base and head from HEAD; head's queue
# manager spins ALPCRUN_GATE_INJECT_CPU per task (services/queuemanager/
# inject.go, test builds only). The runs of all sizes interleave, so a busy
# spell of the machine does not land on one size alone. Prints a markdown
# table; raw results stay in the printed directory.
#
#   GATE_POWER_PLANT="100ns 200ns 400ns"  planted CPU per task; on the
#                 gate's loaded shape (about 2 us of process CPU per task
#                 on a 2-core Xeon VM) about +5%, +10%, +20%.
#   GATE_POWER_RUNS=5     gate runs per planted size.
#   GATE_POWER_AA=10      A/A gate runs.
#   GATE_POWER_LOCK=      a file to flock around each gate run, so that
#                 other benchmarks on the machine wait for it (and it for
#                 them); empty: no lock.
#
# Takes about 25 gate runs of 100-150 s each on 2 cores.
#
#   scripts/gate_power.sh table DIR/runs.txt   prints the table of a run again
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PLANT=${GATE_POWER_PLANT:-100ns 200ns 400ns}
RUNS=${GATE_POWER_RUNS:-5}
AA=${GATE_POWER_AA:-10}
LOCK=${GATE_POWER_LOCK:-}
# gate plant i: one gate run, its log in $out/<plant>-<i>.log and a line
# "plant rc seconds cpu-estimate failed-checks" in $out/runs.txt.
gate() {
  local plant=$1 i=$2 log=$out/$1-$2.log env=() t rc cpu failed
  [[ $plant != none ]] && env=(GATE_HEAD_ENV=ALPCRUN_GATE_INJECT_CPU=$plant)
  if [[ -n $LOCK ]]; then
    env GATE_BASE=HEAD GATE_HEAD=HEAD "${env[@]}" GATE_OUT="$out/$plant-$i" flock "$LOCK" ./scripts/gate.sh >"$log" 2>&1
  else
    env GATE_BASE=HEAD GATE_HEAD=HEAD "${env[@]}" GATE_OUT="$out/$plant-$i" ./scripts/gate.sh >"$log" 2>&1
  fi
  rc=$?
  # The gate's own time, without the wait for the lock.
  t=$(sed -n 's/^gate: \(ok\|FAIL\) in \([0-9]*\)s.*/\2/p' "$log")
  cpu=$(awk '/paired +cpu-ns\/op/ {print $4}' "$log")
  failed=$(awk '/^FAIL/ {print $2 ":" ($2 == "floors" || $2 == "baseline" ? $4 : $3)}' "$log" | sort -u | paste -sd, -)
  echo "$plant $rc ${t:-?} ${cpu:-?} ${failed:--}" >>"$out/runs.txt"
  echo "gate_power: $plant #$i: exit $rc in ${t:-?}s, CPU per task ${cpu:-?}, failed: ${failed:--}" >&2
}

# table runs.txt: the markdown table of the runs in runs.txt.
table() {
  echo "| planted CPU per task | gate runs | gate failed | failed on (b) CPU per task | (b)'s CPU estimates, median (min to max) | other checks that failed | gate time, median (max) |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for p in none $(awk '$1 != "none" && !seen[$1]++ {print $1}' "$1" | sort -g); do
    awk -v p="$p" '
      function med(a, n,   i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      $1 == p {
        n++; if ($2 != 0) f++
        if ($5 ~ /paired:cpu-ns/) c++
        if ($2 == 2 && !cnt["error"]++) order[++no] = "error"
        m = split($5, fs, ",")
        for (i = 1; i <= m; i++)
          if (fs[i] != "paired:cpu-ns/op" && fs[i] != "-" && !cnt[fs[i]]++) order[++no] = fs[i]
        if ($4 != "?") {
          v = $4; sub(/%/, "", v); cpu[++nc] = v + 0
          if (nc == 1 || v + 0 < min) min = v + 0
          if (nc == 1 || v + 0 > max) max = v + 0
        }
        if ($3 != "?") { t[++nt] = $3 + 0; if ($3 + 0 > tmax) tmax = $3 + 0 }
      }
      END {
        if (!n) exit
        for (i = 1; i <= no; i++) other = other (other ? ", " : "") order[i] " (" cnt[order[i]] ")"
        printf "| %s | %d | %d of %d | %d of %d | %+.1f%% (%+.1f%% to %+.1f%%) | %s | %d s (%d s) |\n",
          p == "none" ? "none (A/A)" : p, n, f, n, c, n, med(cpu, nc), min, max, other ? other : "none", med(t, nt), tmax
      }' "$1"
  done
}

if [[ ${1:-} == table ]]; then
  table "$2"
  exit
fi
git grep -q 'injectTaskCPU(' HEAD -- services/queuemanager/worker.go ||
  { echo "gate_power: no injectTaskCPU hook in HEAD's services/queuemanager/worker.go" >&2; exit 2; }
out=$(mktemp -d "${TMPDIR:-/tmp}/gate_power.XXXXXX")
echo "gate_power: HEAD $(git rev-parse --short HEAD), raw results in $out" >&2
max=$((AA > RUNS ? AA : RUNS))
for ((i = 1; i <= max; i++)); do
  ((i <= AA)) && gate none "$i"
  if ((i <= RUNS)); then
    for p in $PLANT; do gate "$p" "$i"; done
  fi
done

echo
table "$out/runs.txt"
