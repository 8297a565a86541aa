// Package loadgen measures a deployed ALPCRUN.CH cluster from the client
// side: it opens sessions on a queue manager, streams tasks through them and
// records when each task's result comes back (docs/design.md, The lab).
//
//	rep, err := loadgen.Run(ctx, cfg)
//	err = rep.Write(os.Stdout, loadgen.FormatBench)
//
// # The workers
//
// loadgen only sends. The workers are whatever the cluster runs; for the
// numbers to mean something they must answer with the task a run assumes:
// `worker --task echo` for pure middleware overhead, or
// `worker --task sleep:10ms` when Config.TaskDuration is 10ms (the duration
// is a label of the run, it is not sent to the workers). Tasks that the
// workers fail are counted as dead letters.
//
// # The matrix
//
// The list fields of Config (sessions, batch, payload, shared data, in-flight
// window, rate) expand to their cartesian product; Run runs the points one
// after another, each on fresh sessions, and reports one RunResult per point.
// With Count > 1 the whole matrix runs Count times over (pass 1 of every
// point, then pass 2, ...), so that benchstat gets Count samples per point
// and a slow spell of a shared machine hits every point alike.
//
// # Closed and open loop
//
// A closed-loop point keeps at most Inflight tasks per session unanswered:
// a batch is sent once Batch slots of the window are free. Latency is from
// the batch's SubmitBatch to the arrival of the task's result. Such a client
// slows down with the system, so its latency hides the queueing a real
// arrival process would meet ("coordinated omission").
//
// An open-loop point sends at a fixed Rate (tasks/s over all sessions):
// batch k of a session is due at start + k·Batch·Sessions/Rate. Latency is
// measured from that intended send time, not from when the send happened, so
// a system that falls behind shows it in its latency instead of slowing the
// load down. The sender never skips a batch: when it is late it sends at
// once until it has caught up.
//
// # Warm-up and bounds
//
// The first WarmupTasks tasks, and every task sent during the first Warmup,
// are sent and awaited like the others but not recorded. A point stops
// sending after Tasks measured tasks or once Duration has passed since its
// first measured task was sent (the first reached; on a machine that keeps
// up, Warmup+Duration after the start), then waits up to DrainTimeout for
// the results still out; tasks neither answered nor dead-lettered by then
// count as errors. Tasks and WarmupTasks are split evenly over the
// sessions.
//
// # Recording
//
// Each session's results are recorded by its stream's receiving goroutine
// into the session's own HDR histogram (core/stats), without locks; the
// histograms are merged when the point ends. A task's id carries its
// sequence number and its send time, so no table of send times is shared
// between the sender and the receiver.
//
// # Control-plane calls
//
// RunUnary measures unary calls (CreateSession on the queue manager,
// GetSharedData on the central cache) with ghz's runner
// (github.com/bojand/ghz/runner), and reports them the same three ways.
package loadgen
