// Package queue holds the task queues of ALPCRUN.CH: one Queue interface
// and five kinds behind it, built by New(kind, Options) and listed by
// Kinds(). The queue manager keeps a session's task, result and dead-letter
// batches in queues of the configured kind (queueType); the lab compares
// the kinds with BenchmarkQueue.
//
//	kind      ordering                     blocking (full / empty)                bound
//	priority  higher Priority first, FIFO  mutex + wait lists, ctx-aware          Capacity
//	          among equals (sequence no.)
//	fifo      FIFO                         Go channel select, ctx-aware           Capacity
//	lockfree  FIFO (per-cell sequence)     CAS fast path; parks after a few       Capacity
//	                                       yields, so idle costs no CPU
//	speed     hand-off, no storage         every Push waits for a Pop             0
//	mutex     FIFO                         mutex + ring + wait lists              Capacity
//
// Measured cost (ns per item, push+pop, GOMAXPROCS=2, from the committed
// run in results/; "chanraw" is a bare buffered channel for reference):
//
// # COSTS
//
// speed is for benchmarking only: with no buffer a producer cannot run ahead
// of its consumers, so the queue manager could not absorb a burst.
//
// Every kind passes the conformance suite in conformance_test.go: ordering,
// capacity, close (queued items drain, then ErrClosed), context
// cancellation of blocked pushes and pops, and multi-producer
// multi-consumer runs whose sums prove nothing is lost or duplicated.
package queue
