#!/usr/bin/env bash
# Regenerates the Go code of proto/alpcrun/v1 and the Python stubs of
# sdk/python/alpcrun/v1 into OUT (default: in place).
# protoc and its gRPC Python plugin come from Debian's protobuf-compiler and
# protobuf-compiler-grpc; the Go plugins are the versions pinned by the tool
# lines of go.mod, so every machine emits the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.}
command -v protoc >/dev/null || { echo "genproto: protoc missing (apt-get install protobuf-compiler)" >&2; exit 1; }
PYPLUGIN=$(command -v grpc_python_plugin) || { echo "genproto: grpc_python_plugin missing (apt-get install protobuf-compiler-grpc)" >&2; exit 1; }
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
go build -o "$BIN/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$BIN/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
mkdir -p "$OUT" "$OUT/sdk/python"
PATH="$BIN:$PATH" protoc -I proto \
  --go_out="$OUT" --go_opt=module=github.com/alpcrun/alpcrun \
  --go-grpc_out="$OUT" --go-grpc_opt=module=github.com/alpcrun/alpcrun \
  alpcrun/v1/alpcrun.proto
# The Python stubs land in the package alpcrun.v1, the import path protoc
# derives from the proto's path.
protoc -I proto --plugin=protoc-gen-grpc="$PYPLUGIN" \
  --python_out="$OUT/sdk/python" --grpc_out="$OUT/sdk/python" \
  alpcrun/v1/alpcrun.proto
