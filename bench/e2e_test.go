package bench

import (
	"os"
	"testing"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/services/grpctune"
)

// tuned is the transport of every ALPCRUN.CH process: grpctune's
// ServerOptions and DialOptions. On gRPC's defaults the relay would not be
// the limit: 0.71x the tuned relay's tasks/s and 1.71x its idle round trip
// (grpctune's doc.go).
var tuned = Transport{Server: grpctune.ServerOptions(), Dial: grpctune.DialOptions()}

// e2eRows are the rows of the end-to-end benchmarks for E2E_GRID
// (grid_test.go).
var e2eRows = e2ePlan(os.Getenv("E2E_GRID"))

// inflightPerWorker saturates the tuned relay at batch=100: measured on 2
// cores with 1 and 4 workers, 16 per worker was within noise of 32 and 64
// in tasks/s, 8 per worker was not at 1 worker. At batch=1 throughput
// still rises past 64 per worker (more messages share each syscall), so
// the batch=1 rows are throughput at this window, not a ceiling.
const inflightPerWorker = 16

// starter returns the system of row r, on the tuned transport.
func (r e2eRow) starter() Starter {
	if r.impl == "relay" {
		return StartRelay(tuned)
	}
	return StartQueueManager(queue.Kind(r.impl), r.policy, tuned)
}

// sharedName is a row's shared= value.
func sharedName(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// BenchmarkE2EMatrix runs b.N tasks client → system → workers → client in
// one process over loopback TCP, for every row of e2ePlan, as
// BenchmarkE2EMatrix/impl=K/policy=P/shared=S/workers=W/batch=B/payload=S/inflight=N:
// impl is relay or a queue kind, policy the scheduler policy (none for the
// relay), shared whether every batch requires the session's shared data,
// read by each worker through its node cache. It is what make bench runs:
//
//	go test -run '^$' -bench 'BenchmarkE2EMatrix' -count 10 ./bench
//
// Each queue-manager row has a relay row with the same shared setting and
// shape; compare them with
// go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /impl,/policy
// (scripts/bench.sh writes one table per dimension).
func BenchmarkE2EMatrix(b *testing.B) {
	for _, r := range e2eRows {
		b.Run(r.matrixName(), func(b *testing.B) { Bench(b, r.starter(), r.shape) })
	}
}

func (r e2eRow) matrixName() string {
	return "impl=" + r.impl + "/policy=" + r.policy + "/shared=" + sharedName(r.shape.Shared) + "/" + r.shape.Name()
}

// BenchmarkE2E runs the rows of BenchmarkE2EMatrix that use the default
// scheduler policy and no shared data, for every impl, as
// BenchmarkE2E/impl=K/workers=W/batch=B/payload=S/inflight=N. make gate
// runs a fixed pair of its rows (scripts/gate.sh): keep these names.
//
//	go test -run '^$' -bench 'BenchmarkE2E$' -count 10 ./bench
//
// Compare the systems with
// go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /impl.
func BenchmarkE2E(b *testing.B) {
	for _, r := range e2eRows {
		if name, ok := r.e2eName(); ok {
			b.Run(name, func(b *testing.B) { Bench(b, r.starter(), r.shape) })
		}
	}
}

// e2eName is r's name in BenchmarkE2E, if it has one there.
func (r e2eRow) e2eName() (string, bool) {
	if r.shape.Shared || r.policy != defaultPolicy && r.policy != relayPolicy {
		return "", false
	}
	return "impl=" + r.impl + "/" + r.shape.Name(), true
}
