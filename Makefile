# ALPCRUN.CH. The commands that matter on a fresh machine:
#   make run     the demo: every service in one process pricing an option
#   make bench   the lab's main job (no services needed)
#   make test    vet, race tests, generated-code check, Python SDK tests
SHELL := /bin/bash
GO ?= go
COUNT ?= 10
BENCH ?= .
BENCHTIME ?=

.PHONY: all build run test vet race proto proto-check bench

all: build

build:
	$(GO) build ./...

run:
	$(GO) run ./cmd/alpcrun demo

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -timeout 15m ./...

test: vet race proto-check pytest

# protoc and grpc_python_plugin come from Debian; the Go plugins are pinned in go.mod's tool lines.
proto:
	./scripts/genproto.sh

proto-check:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	./scripts/genproto.sh $$tmp && \
	diff -r -q -x '*.proto' $$tmp/proto/alpcrun/v1 proto/alpcrun/v1 && \
	diff -u $$tmp/proto/alpcrun/v1/alpcrun.pb.go proto/alpcrun/v1/alpcrun.pb.go && \
	for f in alpcrun_pb2.py alpcrun_pb2_grpc.py; do \
	  diff -u $$tmp/sdk/python/alpcrun/v1/$$f sdk/python/alpcrun/v1/$$f || exit 1; \
	done && \
	echo "proto-check: generated code is up to date"

bench:
	COUNT=$(COUNT) BENCH='$(BENCH)' BENCHTIME='$(BENCHTIME)' ./scripts/bench.sh
include scripts/gate.mk
include deploy/deploy.mk
include scripts/fuzz.mk
include scripts/loadgen.mk
include scripts/soak.mk
include sdk/python/python.mk
