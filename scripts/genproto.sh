#!/usr/bin/env bash
# Regenerates the Go code of proto/alpcrun/v1 into OUT (default: in place).
# protoc comes from Debian's protobuf-compiler; the Go plugins are the
# versions pinned by the tool lines of go.mod, so every machine emits the
# same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.}
command -v protoc >/dev/null || { echo "genproto: protoc missing (apt-get install protobuf-compiler)" >&2; exit 1; }
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
go build -o "$BIN/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$BIN/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
mkdir -p "$OUT"
PATH="$BIN:$PATH" protoc -I proto \
  --go_out="$OUT" --go_opt=module=github.com/alpcrun/alpcrun \
  --go-grpc_out="$OUT" --go-grpc_opt=module=github.com/alpcrun/alpcrun \
  alpcrun/v1/alpcrun.proto
