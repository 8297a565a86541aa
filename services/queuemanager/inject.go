//go:build gateinject

package queuemanager

import (
	"os"
	"sync/atomic"
	"time"
)

// GateInjectCPUEnv names the environment variable that plants a CPU
// regression for make gate's self-test and power runs (scripts/gate_test.sh,
// scripts/gate_power.sh): a duration such as 150ns of busy work per task
// that every worker sender does before each batch it sends. Per task, not
// per batch, so that it is the same share of the queue manager's CPU per
// task at batch 1 and batch 100; busy, not asleep, so that it costs CPU as
// a slower code path would. It exists only in builds with tag gateinject
// (the gate's test binaries); elsewhere the hook is an empty function
// (inject_off.go).
const GateInjectCPUEnv = "ALPCRUN_GATE_INJECT_CPU"

// injectPerTask is the spin iterations per task, 0 when nothing is planted.
var injectPerTask = func() int {
	d, err := time.ParseDuration(os.Getenv(GateInjectCPUEnv))
	if err != nil || d <= 0 {
		return 0
	}
	return int(float64(d) * spinsPerNs())
}()

// spinsPerNs times a fixed spin a few times and keeps the fastest: the
// machine may be busy at startup, and the fastest run is the one that was
// not interrupted.
func spinsPerNs() float64 {
	const n = 1 << 20
	best := time.Duration(1 << 62)
	for range 7 {
		t := time.Now()
		injectSink.Store(spin(n))
		best = min(best, time.Since(t))
	}
	return n / float64(max(best, 1))
}

// injectSink keeps the spins' results alive, so that the compiler cannot
// drop the loop.
var injectSink atomic.Uint64

//go:noinline
func spin(n int) uint64 {
	x := uint64(n) | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// injectTaskCPU is the hook in sendTasks: busy work for a batch of tasks.
func injectTaskCPU(tasks int) {
	if injectPerTask > 0 {
		injectSink.Store(spin(tasks * injectPerTask))
	}
}
