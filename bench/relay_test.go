package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// TestRelayExactlyOnce drives the relay through the same harness as
// BenchmarkE2E and checks that every task comes back exactly once, with a
// last batch shorter than the others and with a single batch in flight.
func TestRelayExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		shape Shape
		tasks int
	}{
		{Shape{Workers: 4, Batch: 7, Payload: 64, Inflight: 16}, 3000},
		{Shape{Workers: 1, Batch: 1, Payload: 0, Inflight: 1}, 300},
		{Shape{Workers: 2, Batch: 100, Payload: 4096, Inflight: 4}, 1001},
	} {
		t.Run(tc.shape.Name(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sys := StartRelay(Transport{})(ctx, t, tc.shape)
			res, err := Run(ctx, sys.Stream, sys.SessionID, tc.shape, tc.tasks)
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Verify(tc.tasks); err != nil {
				t.Fatal(err)
			}
			if got := res.Latency.Count(); got != int64(tc.tasks) {
				t.Fatalf("latency histogram holds %d values, want %d", got, tc.tasks)
			}
		})
	}
}

// TestRunCountsDuplicates drives the relay with a worker that answers
// every batch twice: Run must count the second answers as duplicates, and
// Verify must reject the run.
func TestRunCountsDuplicates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	relay := NewRelay()
	srv := grpc.NewServer()
	alpcrunpb.RegisterQueueServer(srv, relay)
	addr := servicetest.ServeServer(t, srv)
	client := alpcrunpb.NewQueueClient(Dial(t, addr, nil))
	ws, err := client.WorkerStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)
	wg.Go(func() {
		b := new(alpcrunpb.Batch)
		for ws.RecvMsg(b) == nil {
			if ws.Send(b) != nil || ws.Send(b) != nil {
				return
			}
		}
	})
	if err := relay.WaitWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	st, err := client.ClientStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One batch in flight: each batch's second answer comes before the
	// next batch's first, so all but the last batch's are read.
	s := Shape{Workers: 1, Batch: 10, Payload: 8, Inflight: 1}
	res, err := Run(ctx, st, "", s, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicates < 90 || res.Verify(100) == nil {
		t.Fatalf("Run counted %d duplicates, want at least 90, and Verify must fail", res.Duplicates)
	}
}

func TestParseIndex(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"41", 41, true}, {"99", 99, true},
		{"100", 0, false}, {"", 0, false}, {"01", 0, false}, {"-1", 0, false}, {"4a", 0, false},
	} {
		if got, ok := parseIndex(tc.s, 100); got != tc.want || ok != tc.ok {
			t.Errorf("parseIndex(%q, 100) = %d, %v; want %d, %v", tc.s, got, ok, tc.want, tc.ok)
		}
	}
}

func TestVerify(t *testing.T) {
	good := Result{Received: 4, IDSum: 6}
	if err := good.Verify(4); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Result{
		{Received: 3, IDSum: 3},
		{Received: 4, IDSum: 6, Duplicates: 1},
		{Received: 4, IDSum: 7},
	} {
		if bad.Verify(4) == nil {
			t.Errorf("Verify accepted %+v", bad)
		}
	}
}
