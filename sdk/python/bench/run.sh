#!/usr/bin/env bash
# make pybench: the Python SDK next to the Go client and a raw grpcio stream
# (sdk/python/bench/bench.py) into results/python/<date>_<commit>[-dirty]/:
# env.txt, bench.txt (Go benchmark format), table.md (medians, each client
# over raw) and two charts. PYBENCH_COUNT (default 10) passes,
# PYBENCH_SCALE (default 1) multiplies the tasks per point.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export GIT_OPTIONAL_LOCKS=0
PYTHON=${PYTHON:-/usr/bin/python3}
GO=${GO:-go}
COUNT=${PYBENCH_COUNT:-10}
SCALE=${PYBENCH_SCALE:-1}
commit=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || commit=$commit-dirty
out=results/python/$(date -u +%F)_$commit
mkdir -p "$out"
{
  ./scripts/envinfo.sh
  echo "python: $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
  echo "grpcio: $("$PYTHON" -c 'import grpc; print(grpc.__version__)')"
  echo "protobuf: $("$PYTHON" -c 'import google.protobuf as p; from google.protobuf.internal import api_implementation as a; print(p.__version__, a.Type())')"
  echo "pybench-count: $COUNT"
  echo "pybench-scale: $SCALE"
} >"$out/env.txt"
"$PYTHON" sdk/python/bench/bench.py --count "$COUNT" --scale "$SCALE" --table "$out/table.md" | tee "$out/bench.txt"
"$GO" run ./cmd/benchplot -in "$out/bench.txt" -out "$out/tasks.png" -kind point -metric tasks/s \
  -x batch,inflight -series client -logy
"$GO" run ./cmd/benchplot -in "$out/bench.txt" -out "$out/latency-p50.png" -kind point -metric p50-ns \
  -x batch,inflight -series client -logy
echo "pybench: results in $out"
