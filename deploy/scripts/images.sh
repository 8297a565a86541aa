#!/usr/bin/env bash
# Builds the static Linux binaries into deploy/bin/ and one FROM-scratch
# image per binary (deploy/Dockerfile): alpcrun/<name>:$IMAGE_TAG.
# cmd/loadgen is included when it exists.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${IMAGE_TAG:-latest}
bins=(queue-manager central-cache node-cache worker)
if [[ -d cmd/loadgen ]]; then
  bins+=(loadgen)
else
  echo "images: cmd/loadgen does not exist yet; alpcrun/loadgen not built"
fi
pkgs=()
for b in "${bins[@]}"; do pkgs+=("./cmd/$b"); done
mkdir -p deploy/bin
CGO_ENABLED=0 GOOS=linux ${GO:-go} build -trimpath -ldflags='-s -w' -o deploy/bin/ "${pkgs[@]}"
for b in "${bins[@]}"; do
  # The legacy builder: this machine's daemon has no BuildKit (no buildx),
  # and FROM scratch needs nothing from it.
  if ! out=$(DOCKER_BUILDKIT=0 docker build -f deploy/Dockerfile --build-arg "BINARY=$b" -t "alpcrun/$b:$tag" deploy 2>&1); then
    echo "$out" >&2
    exit 1
  fi
  echo "images: built alpcrun/$b:$tag"
done
