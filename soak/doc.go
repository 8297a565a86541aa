// Package soak holds the lab's long-running checks of a queue manager, run
// by cmd/soak (make soak, make scale).
//
// The queue manager runs in a child process (ServeQM, started by StartQM)
// so that the memory measured is its own: Snapshot reads VmRSS and VmHWM
// from the child's /proc/self/status, its runtime.MemStats and its
// Prometheus counters. Clients and workers run in the parent, over real
// gRPC on loopback, through the public SDKs.
//
// # Soak (Run)
//
// A closed loop of Config.Window tasks in flight measures the maximum
// throughput for Config.Probe (its first fifth not counted). Then an open
// loop offers Config.Load of it for Config.Duration: task k is due at
// start + k/rate, and latency counts from that intended time, so falling
// behind shows as latency rather than slowing the load. Meanwhile, every
// Config.Churn one worker registers and the oldest drains and leaves. A
// line per Config.Interval gives tasks/s, p99 and the queue manager's RSS
// (as is, no forced GC).
//
// Memory is judged on two readings taken in the same state: the load pauses
// after the first Config.Warmup of the run until every task sent is
// answered, and the queue manager's RSS is read after two full GCs (the
// second, debug.FreeOSMemory, also drops sync.Pool caches and hands free
// pages back to the OS); the same is done once the load has ended. Without
// the pause the reading would measure the backlog of that instant, and
// without the GCs pooled buffers and pages the runtime has not yet returned.
// Heap profiles taken at both readings are written next to the plot, so that
// growth can be traced. The run fails when the end reading exceeds the
// warm-up one by more than Config.Tolerance (shrinking is fine), when a
// result is lost or duplicated, on dead letters, or on any worker or session
// error.
//
// # Scale (RunScale)
//
// Registers ScaleConfig.Workers workers, then opens ScaleConfig.Sessions
// sessions (each with its stream), reading the queue manager's memory after
// a forced GC at each step, and reports the RSS and heap deltas per worker
// and per session; then sends one task through every session at once. It
// reports the queue manager's own scheduler passes over that run
// (alpcrun_scheduler_pass_seconds: time per event, p99 pass), and times the
// policy alone by replaying events of the kinds the queue manager reports
// into a core/scheduler of the same size with the same default policy; the
// run fails unless the replay's p99 per event is below
// ScaleConfig.MaxDecisionP99.
package soak
