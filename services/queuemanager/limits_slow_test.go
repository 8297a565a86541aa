package queuemanager

import (
	"fmt"
	"io"
	"testing"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// serveBinds runs a worker that answers every session it is bound to.
func (w *rawWorker) serveBinds(t *testing.T) {
	go func() {
		for {
			select {
			case in := <-w.instr:
				if in.Type == pb.Instruction_BIND {
					go serveEcho(w.openStream(t, in.SessionId))
				}
			case <-w.ctx.Done():
				return
			}
		}
	}()
}

// A client that stops reading its results slows only its own session:
// session B, on the same queue manager and workers, still completes while
// session A's results back up to its client's flow-control window and
// A's result queue; the workers are not left waiting to queue A's results.
func TestSlowReaderOnlySlowsItsSession(t *testing.T) {
	ts := startServer(t, Options{BufferSize: 4})
	ctx := testCtx(t)
	a := ts.createSession(t, ctx, nil)
	for range 2 {
		ts.newRawWorker(t, ctx).serveBinds(t)
	}
	ca := ts.clientStream(t, ctx, a.Id)
	// 64 KiB results: A's client window (1 MiB) holds 16 of them, its
	// result queue 4 more, and each worker may hold 10 in flight.
	payload := make([]byte, 64<<10)
	go func() { // blocks once A's task queue is full too
		for i := range 100 {
			if ca.Send(&pb.Batch{Messages: []*pb.Message{{Id: fmt.Sprint(i), Payload: payload}}}) != nil {
				return
			}
		}
	}()
	sa, _ := ts.sessions.Get(a.Id)
	waitFor(t, func() bool { return sa.ResultsLen() == 4 }, "A's result queue full")

	b := ts.createSession(t, ctx, nil)
	cb := ts.clientStream(t, ctx, b.Id)
	for i := range 20 {
		if err := cb.Send(batchOf(b.Id, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := cb.CloseSend(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		r, err := cb.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("session B after %d results: %v", n, err)
		}
		n += len(r.Messages)
	}
	if n != 20 {
		t.Fatalf("session B got %d results, want 20", n)
	}
	// Nothing of A was lost: once its client reads, A gets workers again.
	if got := recvIDs(t, ca, 100); len(got) != 100 {
		t.Fatalf("session A got %d results, want 100", len(got))
	}
}
