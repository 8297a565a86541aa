package bench

import (
	"context"
	"testing"
	"time"
)

// Impl is one system that BenchmarkE2E measures, as impl=Name.
type Impl struct {
	Name  string
	Start Starter
}

// runTimeout bounds one benchmark run, so that a lost task fails the run
// instead of hanging it.
const runTimeout = 10 * time.Minute

// Bench runs b.N tasks of shape s through a fresh system from start and
// reports tasks/s, the p50 and p99 task latency (p50-ns, p99-ns), and per
// task the CPU time (cpu-ns/op: of the whole process, plus a server's own
// process when it runs in one) and allocations of the whole process. CPU
// time per task is the steadiest of these when other processes share the
// cores: they slow the clock-time figures but barely change it. Setup is
// outside the timer; after it stops, every task must have come back exactly
// once.
func Bench(b *testing.B, start Starter, s Shape) {
	b.ReportAllocs()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	sys := start(ctx, b, s)
	cpu := func() (time.Duration, bool) {
		own, ok := processCPU()
		if sys.ServerCPU != nil {
			server, sok := sys.ServerCPU()
			own, ok = own+server, ok && sok
		}
		return own, ok
	}
	b.ResetTimer()
	cpu0, cpuOK := cpu()
	res, err := Run(ctx, sys.Stream, sys.SessionID, s, b.N)
	cpu1, cpuOK1 := cpu()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if err := res.Verify(b.N); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.TasksPerSec(), "tasks/s")
	b.ReportMetric(float64(res.Latency.Quantile(0.50)), "p50-ns")
	b.ReportMetric(float64(res.Latency.Quantile(0.99)), "p99-ns")
	if cpuOK && cpuOK1 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}
