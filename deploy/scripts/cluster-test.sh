#!/usr/bin/env bash
# make cluster-test: starts deploy/compose.yaml (images from make images),
# runs deploy/clustertest against it, which docker-kills worker-1a mid-run
# and checks that every result arrives exactly once, and always tears the
# cluster down. Prints the containers' logs when it fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

source deploy/scripts/compose.sh
find_compose cluster-test
project="alpcrun-ct-$$"
dc() { "${compose[@]}" -p "$project" -f deploy/compose.yaml "$@"; }

work=$(mktemp -d)
cleanup() {
  rc=$?
  compose_teardown cluster-test 40
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Everything that compiles happens before the cluster starts.
${GO:-go} build -o "$work/clustertest" ./deploy/clustertest
${GO:-go} run ./deploy/certs -dir "$work/certs" >/dev/null
export ALPCRUN_CERTS="$work/certs"
ALPCRUN_API_KEY=$(cat "$work/certs/api-key")
export ALPCRUN_API_KEY METALCORE_API_KEY="$ALPCRUN_API_KEY"

echo "cluster-test: starting project $project with ${compose[*]}"
dc up -d --no-build 2>&1 | sed 's/^/  /'
port() { dc port "$1" "$2" | tail -n1; }
victim=$(dc ps -q worker-1a)

"$work/clustertest" \
  -queue-manager "$(port queue-manager 1337)" \
  -queue-manager-http "$(port queue-manager 1338)" \
  -central-cache "$(port central-cache 2337)" \
  -ca-cert "$work/certs/ca.pem" \
  -kill-container "$victim" \
  "$@"

state=$(docker inspect -f '{{.State.Status}} exit={{.State.ExitCode}}' "$victim")
echo "cluster-test: worker-1a is now: $state"
