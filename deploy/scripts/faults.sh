#!/usr/bin/env bash
# make faults: builds the faultproxy image beside those of make images,
# starts deploy/compose.yaml + deploy/compose.faults.yaml as project
# alpcrun-faults (FAULTS_PROJECT), runs deploy/faults against it (one
# session per fault case: worker killed, frozen, partitioned, cut; node
# cache killed; central cache and queue manager restarted), and always
# tears the project down. Prints the containers' logs when it fails.
# Arguments go to deploy/faults (e.g. -cases a,b).
set -euo pipefail
cd "$(dirname "$0")/../.."

source deploy/scripts/compose.sh
find_compose faults
project=${FAULTS_PROJECT:-alpcrun-faults}
tag=${IMAGE_TAG:-latest}
dc() { "${compose[@]}" -p "$project" -f deploy/compose.yaml -f deploy/compose.faults.yaml "$@"; }

work=$(mktemp -d)
cleanup() {
  rc=$?
  compose_teardown faults 30
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Everything that compiles happens before the cluster starts.
${GO:-go} build -o "$work/faults" ./deploy/faults
mkdir -p deploy/bin
CGO_ENABLED=0 GOOS=linux ${GO:-go} build -trimpath -ldflags='-s -w' -o deploy/bin/faultproxy ./internal/faultproxy/cmd/faultproxy
if ! out=$(DOCKER_BUILDKIT=0 docker build -f deploy/Dockerfile --build-arg BINARY=faultproxy -t "alpcrun/faultproxy:$tag" deploy 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "faults: built alpcrun/faultproxy:$tag"
${GO:-go} run ./deploy/certs -dir "$work/certs" >/dev/null
export ALPCRUN_CERTS="$work/certs"
ALPCRUN_API_KEY=$(cat "$work/certs/api-key")
export ALPCRUN_API_KEY METALCORE_API_KEY="$ALPCRUN_API_KEY"

# A project left over by an interrupted run would hold the same names.
dc down --volumes --remove-orphans --timeout 1 >/dev/null 2>&1 || true
echo "faults: starting project $project with ${compose[*]}"
dc up -d --no-build 2>&1 | sed 's/^/  /'

"$work/faults" -project "$project" -ca-cert "$work/certs/ca.pem" "$@"
