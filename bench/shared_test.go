package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/internal/servicetest"
	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"

	"google.golang.org/grpc"
)

// TestSharedData runs the relay and the queue manager with shared data on
// and checks that every task comes back exactly once and that the workers
// read the shared data once per batch they receive, through their node
// caches.
func TestSharedData(t *testing.T) {
	s := Shape{Workers: 3, Batch: 10, Payload: 64, Inflight: 6, Shared: true}
	const tasks = 995 // 100 batches, the last one short
	for _, impl := range []struct {
		name  string
		start Starter
	}{
		{"relay", StartRelay(tuned)},
		{"priority", StartQueueManager(queue.Priority, defaultPolicy, tuned)},
	} {
		t.Run("impl="+impl.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sys := impl.start(ctx, t, s)
			res, err := Run(ctx, sys.Stream, sys.SessionID, s, tasks)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Verify(tasks); err != nil {
				t.Fatal(err)
			}
			reads, batches := sys.Shared.Reads.Load(), sys.Shared.Batches.Load()
			if reads != batches || batches < 100 {
				t.Errorf("workers read shared data %d times for %d batches (at least the client's 100), want once per batch", reads, batches)
			}
		})
	}
}

// TestSharedDataMissing checks that a worker whose shared data cannot be
// read fails the batch's tasks, so that a broken shared-data path fails
// the benchmark instead of measuring nothing.
func TestSharedDataMissing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sd := StartSharedData(t) // nothing stored
	relay := NewRelay()
	srv := grpc.NewServer()
	alpcrunpb.RegisterQueueServer(srv, relay)
	addr := servicetest.ServeServer(t, srv)
	StartWorkers(ctx, t, addr, nil, 1, relaySession, sd)
	if err := relay.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st, err := alpcrunpb.NewQueueClient(Dial(t, addr, nil)).ClientStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := Shape{Workers: 1, Batch: 5, Payload: 64, Inflight: 1, Shared: true}
	if _, err := Run(ctx, st, "", s, 5); err == nil || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("Run = %v, want a failed task", err)
	}
}
