package queuemanager

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/metadata"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	sdkworker "github.com/alpcrun/alpcrun/services/sdk/worker"
)

// Slow tasks reach every worker, however the client packs them: 80 tasks
// in 8 batches and in 1 batch, 8 SDK workers of 2 slots each. Handlers
// block until each of the 8 workers is running one, so the test counts the
// workers that got work, whatever the speed of the machine.
func TestSlowTasksReachEveryWorker(t *testing.T) {
	for _, batches := range []int{8, 1} {
		t.Run(fmt.Sprintf("batches=%d", batches), func(t *testing.T) {
			const workers, tasks = 8, 80
			ts := startServer(t, Options{})
			ctx := testCtx(t)
			var mu sync.Mutex
			ran := map[int]bool{}
			all := make(chan struct{})
			for i := range workers {
				h := func(ctx context.Context, tk sdkworker.Task) ([]byte, error) {
					mu.Lock()
					ran[i] = true
					if len(ran) == workers {
						select {
						case <-all:
						default:
							close(all)
						}
					}
					mu.Unlock()
					select {
					case <-all:
					case <-ctx.Done():
					}
					return tk.Payload, nil
				}
				w, err := sdkworker.New(ts.addr, h, sdkworker.WithConcurrency(2), sdkworker.WithPod(fmt.Sprint("w", i)))
				if err != nil {
					t.Fatal(err)
				}
				wctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); _ = w.Run(wctx) }()
				t.Cleanup(func() { cancel(); <-done })
			}
			waitFor(t, func() bool { return len(ts.workers.all()) == workers }, "workers registered")

			s := ts.createSession(t, ctx, nil)
			cs := ts.clientStream(t, ctx, s.Id)
			per := tasks / batches
			for b := range batches {
				if err := cs.Send(batchOf(s.Id, ids(fmt.Sprint("b", b, "-"), per)...)); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-all:
			case <-ctx.Done():
				mu.Lock()
				t.Fatalf("only %d of %d workers got work", len(ran), workers)
			}
			got := map[string]int{}
			for _, id := range recvIDs(t, cs, tasks) {
				got[id]++
			}
			for id, n := range got {
				if n != 1 {
					t.Errorf("task %s answered %d times", id, n)
				}
			}
			if len(got) != tasks {
				t.Fatalf("%d distinct results, want %d", len(got), tasks)
			}
		})
	}
}

// A hungry worker steals a batch that a busy worker has not started: the
// queue manager asks for it back (REVOKE), the busy worker returns it
// (RETURNED), and it goes to the hungry one; a batch answered STARTED
// stays where it is. One-task batches, so that none is split.
func TestStealUnstartedBatch(t *testing.T) {
	for _, answer := range []pb.Batch_Revoke{pb.Batch_RETURNED, pb.Batch_STARTED} {
		t.Run(answer.String(), func(t *testing.T) {
			ts := startServer(t, Options{})
			ctx := testCtx(t)
			s := ts.createSession(t, ctx, nil)
			cs := ts.clientStream(t, ctx, s.Id)
			if err := cs.Send(batchOf(s.Id, "a")); err != nil {
				t.Fatal(err)
			}
			if err := cs.Send(batchOf(s.Id, "b")); err != nil {
				t.Fatal(err)
			}
			busy := ts.newRawWorker(t, ctx)
			if in := busy.next(t); in.Type != pb.Instruction_BIND {
				t.Fatalf("instruction %v", in)
			}
			md := metadata.Pairs("workerid", busy.id, "sessionid", s.Id, "revoke", "1")
			bst, err := ts.q.WorkerStream(metadata.NewOutgoingContext(ctx, md))
			if err != nil {
				t.Fatal(err)
			}
			first, err := bst.Recv()
			if err != nil {
				t.Fatal(err)
			}
			second, err := bst.Recv()
			if err != nil {
				t.Fatal(err)
			}

			hungry := ts.newRawWorker(t, ctx)
			hst := hungry.bindNext(t, s.Id)
			rv, err := bst.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if rv.Revoke != pb.Batch_REVOKE || rv.Id != second.Id || len(rv.Messages) != 0 {
				t.Fatalf("busy worker got %v, want REVOKE of the newer batch %s", rv, second.Id)
			}
			if err := bst.Send(&pb.Batch{Id: rv.Id, Revoke: answer}); err != nil {
				t.Fatal(err)
			}
			if answer == pb.Batch_RETURNED {
				stolen, err := hst.Recv()
				if err != nil {
					t.Fatal(err)
				}
				if stolen.Messages[0].Id != second.Messages[0].Id || stolen.Messages[0].Attempts != 1 {
					t.Fatalf("hungry worker got %v, want the returned batch, first attempt", stolen)
				}
				if err := hst.Send(echo(stolen)); err != nil {
					t.Fatal(err)
				}
			} else if err := bst.Send(echo(second)); err != nil {
				t.Fatal(err)
			}
			if err := bst.Send(echo(first)); err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, id := range recvIDs(t, cs, 2) {
				got[id]++
			}
			if len(got) != 2 {
				t.Fatalf("results %v", got)
			}
		})
	}
}

// The autoscaling gauges count tasks queued and in flight, and read 0 at
// rest; per-session series appear only when asked for.
func TestOutstandingGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registerer: reg})
	ctx := testCtx(t)
	gauge := func(state string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "alpcrun_queue_depth" {
				t.Fatalf("per-session series without sessionMetrics: %v", mf)
			}
			if mf.GetName() != "alpcrun_tasks_outstanding" {
				continue
			}
			for _, m := range mf.Metric {
				if m.Label[0].GetValue() == state {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatalf("no alpcrun_tasks_outstanding{state=%q}", state)
		return 0
	}
	if q, f := gauge("queued"), gauge("inflight"); q != 0 || f != 0 {
		t.Fatalf("at rest: queued %v, inflight %v", q, f)
	}
	s := ts.createSession(t, ctx, nil)
	cs := ts.clientStream(t, ctx, s.Id)
	if err := cs.Send(batchOf(s.Id, ids("t", 5)...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return gauge("queued") == 5 }, "5 tasks queued")
	w := ts.newRawWorker(t, ctx)
	st := w.bindNext(t, s.Id)
	b, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return gauge("queued") == 0 && gauge("inflight") == 5 }, "5 tasks in flight")
	if err := st.Send(echo(b)); err != nil {
		t.Fatal(err)
	}
	recvIDs(t, cs, 5)
	waitFor(t, func() bool { return gauge("queued") == 0 && gauge("inflight") == 0 }, "nothing outstanding")
}
