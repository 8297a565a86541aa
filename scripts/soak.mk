# make soak: a queue manager (child process) under half its measured
# maximum load for SOAK (default 10m) while workers join and leave; a line
# every 10 s, then the judgement (no lost or duplicate results, RSS after
# warm-up within 10%) and soak.csv + soak.png in SOAK_OUT.
# make scale: 10,000 sessions and 1,000 workers on one queue manager;
# memory per session and per worker, scheduler time per event (p99 < 1ms).
# Include from the Makefile. SOAK and SOAK_OUT pass through the environment
# (SOAK=60s make soak).
GO ?= go
SOAK ?= 10m
SOAK_OUT ?= bin/soak

.PHONY: soak scale

soak:
	$(GO) run ./cmd/soak soak -duration $(SOAK) -out $(SOAK_OUT)

scale:
	$(GO) run ./cmd/soak scale

# make hostile: issue 13's hostile-tenant cases against the real binaries,
# each service a child process (cmd/hostile; results/hostile/README.md).
# HOSTILE_ARGS=-full runs the issue's numbers.
.PHONY: hostile
hostile:
	$(GO) run ./cmd/hostile $(HOSTILE_ARGS)
