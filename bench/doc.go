// Package bench holds the end-to-end benchmarks: client → system → workers →
// client in one process over loopback TCP, for the queue manager with each
// queue kind and scheduler policy, with and without shared data, and for a
// raw gRPC relay, the limit they are read against (docs/design.md, The lab).
//
//	go test -run '^$' -bench 'BenchmarkE2EMatrix' -count 10 ./bench
//
// BenchmarkE2EMatrix is what make bench runs: the rows of e2ePlan
// (grid_test.go), E2E_GRID=small by default, full for the whole cross
// product. BenchmarkE2E is its subset at the default policy without shared
// data, under the names make gate uses. BenchmarkMakespan (makespan.go,
// makespan_test.go) measures tasks that take time rather than echo:
//
//	go test -run '^$' -bench 'BenchmarkMakespan' -benchtime 1x -count 10 ./bench
//
// # Pieces
//
//   - Relay serves Queue.ClientStream and Queue.WorkerStream with the
//     queue manager's messages and hops, but hands each task batch straight
//     to the next worker stream (round robin) and each result batch straight
//     back: what is left is the cost of gRPC and protobuf.
//   - Echo is the worker every system uses, so that only the middle
//     differs: it sends each task batch back as its result batch. With
//     Shape.Shared, every batch requires the session's shared data and
//     each worker reads it first (SharedData.EchoShared) through its own
//     worker SDK NodeCache, over one node cache and one central cache in
//     this process: the relay's workers as the queue manager's.
//   - Run is the client: a closed loop that keeps Shape.Inflight batches
//     unanswered, task i having message id strconv.Itoa(i). Send times stay
//     on the driver side, one per batch; a task's latency runs from its
//     batch's Send to the arrival of its result, in whatever batch that
//     comes back. It counts every task's result once, and counts duplicates
//     apart.
//   - Bench wraps one system and one Shape as a benchmark: b.N tasks, setup
//     outside the timer, and after it stops, Result.Verify (every task back
//     exactly once: count, duplicates, sum of ids) or b.Fatal.
//
// A system is a Starter: it builds the system for a Shape, waits until all
// its workers are attached, returns the client's ClientStream, and
// registers its teardown with tb.Cleanup: StartRelay, StartQueueManager.
//
// # Metrics
//
// ns/op is clock time per task; tasks/s is its inverse; p50-ns and p99-ns
// are task latencies from an HDR histogram (core/stats); cpu-ns/op is the
// process's CPU time per task (user + system, every goroutine), and B/op
// and allocs/op also count the whole process: client, system and workers.
// On a shared machine cpu-ns/op varies least, since other processes slow
// the clock but barely change the work per task. Read systems as ratios to
// impl=relay measured in the same run.
//
// With a window of Inflight batches, a saturated system's latency is
// mostly the window's queueing (Little's law: tasks in flight over
// tasks/s), so latencies are compared at equal windows; the inflight=1
// shape is the idle round trip. Windows are capped at 64 MiB of tasks
// (maxInflightBytes), which the names show as a smaller inflight.
//
// # Makespan
//
// Echo tasks cost a worker nothing, so a system that hands every batch to
// one worker still moves them fast. BenchmarkMakespan runs tasks that
// sleep (task=1ms, 10ms, 100ms, or lognormal: mean 10 ms, sigma 1, the
// same durations every round) on workers=4, 16 or 64 worker SDK workers of
// concurrency 2, sent one Submit at a time through the client SDK's
// default batching (send=sdk) or in one SubmitBatch (send=onebatch). Each
// round is a fresh queue manager, workers and client session over
// loopback, every worker registered before the clock starts; the clock
// runs from the first submit to the last result, the makespan.
//
// Its figure is makespan efficiency: the ideal makespan, total task time
// over workers × 2 slots (about 0.75 s for every shape), over the measured
// one. 1 is every slot busy from the first submit to the last result; a
// little below 1 is the cost of binding workers and of each task's round
// trip; 1/workers is one worker doing all the work while the others idle.
// workers-used says how many workers ran at least one task, which tells a
// dispatch that binds too few workers (workers-used low) from one that
// binds them all but feeds them unevenly (workers-used full, efficiency
// low). Sleeping tasks need no CPU, so 64 workers fit on 2 cores, and a
// busy machine slows the dispatch around the tasks, not the tasks; 1 ms
// tasks are the exception, where each task's round trip and timer slack
// are a visible share. Efficiency is a ratio to the machine's own ideal,
// so it compares across machines better than tasks/s.
package bench
