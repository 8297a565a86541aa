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
// Measured cost: ns per item, push+pop, the median of 10 runs of
// BenchmarkQueue at GOMAXPROCS=2 on a 2-core AMD EPYC, from the committed
// run results/2026-11-27_a578896 (queue-by-impl.txt, ± up to 160% on the
// busy 16×16 rows; read the ratios, not the absolutes). "chanraw" is a bare
// buffered channel, for reference.
//
//	producers×consumers, batch   fifo  lockfree  mutex  priority  speed  chanraw
//	1×1, 1                         79        30     40        43    326       55
//	4×4, 1                         74        39     61        85    397       52
//	16×16, 1                       71        78    123       128    461       49
//	4×4, 64                        69        42     28        34    543       47
//	geomean of all 18 shapes       73        37     43        51    440       50
//
// So lockfree is the cheapest under light contention; the mutex-based kinds
// (mutex, priority) win once PopBatch moves 64 items per lock, and lose
// under heavy contention with single pops.
//
// speed is for benchmarking only: with no buffer a producer cannot run ahead
// of its consumers, so the queue manager could not absorb a burst.
//
// Every kind passes the conformance suite in conformance_test.go: ordering,
// capacity, close (queued items drain, then ErrClosed), context
// cancellation of blocked pushes and pops, and multi-producer
// multi-consumer runs whose sums prove nothing is lost or duplicated.
package queue
