package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// A batch needs shared data that is not there yet (a restarted cache that
// its owner has not refilled): the worker retries until it appears instead
// of failing the tasks.
func TestSharedDataWaitsForMissingData(t *testing.T) {
	qm := startQM(t)
	nodeAddr, nodeGets := startCaches(t)
	ctx := testCtx(t)
	sd, err := client.DialSharedData(ctx, nodeAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	lvl := uint32(1)
	s := session(t, ctx, qm, client.SessionOptions{SharedDataLevel: &lvl})
	nc, err := worker.NewNodeCache(nodeAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h := func(_ context.Context, tk worker.Task) ([]byte, error) { return tk.SharedData.([]byte), nil }
	runWorker(t, newWorker(t, qm, h, worker.WithSharedData(nc), worker.WithSharedDataWait(time.Minute)))
	if err := s.Submit(ctx, "t", nil); err != nil {
		t.Fatal(err)
	}
	for nodeGets() < 2 { // the worker asked, was told NOT_FOUND, and asked again
		select {
		case <-ctx.Done():
			t.Fatal("the worker never asked for the shared data twice")
		case <-time.After(time.Millisecond): // poll interval
		}
	}
	if err := sd.Set(ctx, s.ID(), lvl, []byte("late"), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-s.Results():
		if string(r.Payload) != "late" {
			t.Fatalf("result %q", r.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no result after the shared data appeared")
	}
	if dead, err := s.DeadLetters(ctx); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters %v, %v", dead, err)
	}
}
