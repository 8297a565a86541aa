# make gate: the CI benchmark gate (scripts/gate.sh); include from the
# Makefile. GATE_BASE, GATE_HEAD, GATE_HEAD_ENV, GATE_ROUNDS, GATE_OUT,
# GATE_MAKESPAN_JUDGE and GATE_MAKESPAN_FLOOR pass through the environment.
.PHONY: gate gate-baseline

gate:
	./scripts/gate.sh

gate-baseline:
	./scripts/gate.sh baseline
