// Package client is the Go SDK for the client side of ALPCRUN.CH: it opens
// a session on the queue manager, streams tasks to it and receives their
// results.
//
//	c, err := client.Dial(ctx, "localhost:1337", client.WithAPIKey(key))
//	s, err := c.CreateSession(ctx, client.SessionOptions{AppID: "pricing"})
//	go func() {
//		for i, p := range payloads {
//			_ = s.Submit(ctx, strconv.Itoa(i), p)
//		}
//		s.CloseSend()
//	}()
//	for r := range s.Results() {
//		use(r.ID, r.Payload)
//	}
//	err = s.Wait(ctx)
//	dead, err := s.DeadLetters(ctx)
//
// # Batching
//
// Submit adds a task to the session's open batch. A single sender goroutine
// per session sends batches on the stream, Nagle-style: when it is idle the
// first task is sent at once, alone; while a send is under way the tasks
// submitted meanwhile accumulate and go out together as soon as it returns,
// up to SessionOptions.MaxBatchSize per batch. A lone task therefore never
// waits for a timer, and under load batches grow by themselves to what the
// stream can carry. SessionOptions.MaxWait adds a linger on top (wait up to
// that long for a batch to fill) for callers who prefer fuller batches to
// the lowest latency. SubmitBatch sends a caller-made batch as it is.
//
// # Ownership
//
// A payload passed to Submit or SubmitBatch belongs to the SDK from then on
// and must not be modified: it is kept, unencoded, until its result arrives.
// Result payloads belong to the caller.
//
// # Flow control
//
// Nothing is dropped: Submit blocks while the open batch is full and the
// stream cannot take more, and results must be drained (from Results or the
// OnResult callback), otherwise the SDK stops reading the stream and the
// queue manager slows the session's workers.
//
// # Reconnecting
//
// The session keeps every submitted task until its result or dead letter
// arrives. When the stream breaks (the connection drops, the queue manager
// restarts behind a load balancer) the session reopens it with metadata
// "sessionid" and backoff, and submits again every task that was sent and
// has no answer. The queue manager drops the ids it still holds (queued, at
// a worker, or answered and not yet sent), so those are answered once, and
// runs the ones it lost. A queue manager that no longer knows the session
// after a break (it restarted) gets it created anew under the same id and
// attributes, then receives everything unanswered. When the stream ends
// after CloseSend with tasks still unanswered, their dead letters are read
// (DeadLetters returns them later) and the rest, results lost in transit,
// run again. A result that arrives twice is delivered once. Resubmitted and
// Recreated count what recovery did.
//
// # Tuning by task duration
//
// The defaults (MaxBatchSize 100, MaxWait 0, max_inflight_batches_per_worker
// 10) serve every task duration: the queue manager splits a batch at
// dispatch when workers would otherwise wait, and a worker with nothing to
// do takes back batches another has not started (docs/design.md,
// "Dispatch"), so packing many slow tasks in one batch no longer ties them
// to one worker. What is left to choose:
//
//	task takes   batch size          MaxWait    max_inflight_batches_per_worker
//	10 µs        1000                0-1ms      10 (keeps the pipe full)
//	100 µs-1 ms  100 (default)       0          10
//	10-100 ms    100 (default)       0          10; split and stealing spread it
//	1-10 s       100, or 1-10        0          2-10; a smaller batch starts sooner
//	                                            when tasks trickle in one by one
//
// Below a millisecond of work per batch the queue manager never splits or
// steals (it measures the work from the answers), so echo-like tasks keep
// the fast path. Workers should run with --concurrency (WithConcurrency) as
// high as their cores allow: a batch's tasks run on every slot.
//
// # Shared data
//
// Data that every task of a session reads goes into the central cache once,
// with SharedData, at an update level; batches name the level they need
// (SessionOptions.SharedDataLevel, Session.SetSharedDataLevel), and workers
// read it through their node cache:
//
//	sd, err := client.DialSharedData(ctx, "central-cache:2337")
//	err = sd.Set(ctx, s.ID(), 1, model, 10*time.Minute)
//	// ... later, new content under a new level:
//	lvl, err := sd.Update(ctx, s.ID(), model2, 10*time.Minute)
//	s.SetSharedDataLevel(&lvl)
//
// Errors returned by the SDK wrap the sentinel errors of this package, so
// callers can test them with errors.Is; status.Code still reports the gRPC
// code.
package client
