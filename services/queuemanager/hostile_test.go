package queuemanager

import (
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// Tests of what one tenant must not be able to do to others (issue 13).
// Each used to hang on a full dead-letter queue, bufferSize batches deep.

// Batches that run out of attempts on the scheduler's tick never block
// it: another session still gets its worker and its results while the
// first session's dead letters pile up past the queue's capacity.
func TestExpiredDeadLettersDoNotStallTheScheduler(t *testing.T) {
	const capacity, failing = 4, 10
	ts := startServer(t, Options{BufferSize: capacity})
	ctx := testCtx(t)
	one := uint32(1)
	a := ts.createSession(t, ctx, &pb.SessionAttributes{MaxAttempts: 1, TaskTimeout: durationpb.New(time.Millisecond), MaxWorkers: &one})
	as := ts.clientStream(t, ctx, a.Id)
	for i := range failing {
		if err := as.Send(batchOf(a.Id, fmt.Sprint("a", i))); err != nil {
			t.Fatal(err)
		}
	}
	silent := ts.newRawWorker(t, ctx)
	st := silent.bindNext(t, a.Id)
	go func() { // take every batch, answer none
		for {
			if _, err := st.Recv(); err != nil {
				return
			}
		}
	}()
	if err := as.CloseSend(); err != nil {
		t.Fatal(err)
	}
	// The stream ends once every task has its outcome: all dead.
	if _, err := as.Recv(); err != io.EOF {
		t.Fatalf("session a's stream: %v, want the end after every task failed", err)
	}

	b := ts.createSession(t, ctx, nil)
	bs := ts.clientStream(t, ctx, b.Id)
	if err := bs.Send(batchOf(b.Id, ids("b", 5)...)); err != nil {
		t.Fatal(err)
	}
	w := ts.newRawWorker(t, ctx)
	go serveEcho(w.bindNext(t, b.Id))
	if got := recvIDs(t, bs, 5); len(got) != 5 {
		t.Fatalf("session b got %v", got)
	}
	if dead := readDead(t, ctx, ts, a.Id); len(dead) != failing {
		t.Fatalf("session a: %d dead letters, want %d", len(dead), failing)
	}
}

// A worker answering more failures than the dead-letter queue holds is
// never blocked, and the client's stream still ends with every task
// accounted for.
func TestWorkerErrorsPastDeadLetterCapacity(t *testing.T) {
	const capacity, failing = 4, 10
	ts := startServer(t, Options{BufferSize: capacity})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	cs := ts.clientStream(t, ctx, s.Id)
	for i := range failing {
		if err := cs.Send(batchOf(s.Id, fmt.Sprint("t", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	w := ts.newRawWorker(t, ctx)
	st := w.bindNext(t, s.Id)
	go func() {
		for {
			b, err := st.Recv()
			if err != nil {
				return
			}
			r := echo(b)
			for _, m := range r.Messages {
				m.Error = "boom"
			}
			if st.Send(r) != nil {
				return
			}
		}
	}()
	if _, err := cs.Recv(); err != io.EOF {
		t.Fatalf("client stream: %v, want the end after every task failed", err)
	}
	sess, err := ts.sessions.Get(s.Id)
	if err != nil {
		t.Fatal(err)
	}
	if !sess.DeadFull() {
		t.Fatal("dead letters past capacity do not back the session up")
	}
	if dead := readDead(t, ctx, ts, s.Id); len(dead) != failing {
		t.Fatalf("%d dead letters, want %d", len(dead), failing)
	}
	if sess.DeadFull() {
		t.Fatal("still backed up after the client read its dead letters")
	}
}

// Any number of half-closed client streams of one session end once its
// last task is answered, not only the one Finish's wake-up reaches.
func TestEveryHalfClosedStreamEnds(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	first := ts.clientStream(t, ctx, s.Id)
	if err := first.Send(batchOf(s.Id, "x")); err != nil {
		t.Fatal(err)
	}
	streams := []pb.Queue_ClientStreamClient{first, ts.clientStream(t, ctx, s.Id), ts.clientStream(t, ctx, s.Id)}
	for _, cs := range streams {
		if err := cs.CloseSend(); err != nil {
			t.Fatal(err)
		}
	}
	w := ts.newRawWorker(t, ctx)
	go serveEcho(w.bindNext(t, s.Id))
	results := 0
	for i, cs := range streams {
		for {
			b, err := cs.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			results += len(b.Messages)
		}
	}
	if results != 1 {
		t.Fatalf("%d results over the streams, want 1", results)
	}
}

// A worker cannot open a second WorkerStream for the session it serves:
// each would come with its own in-flight credit.
func TestOneWorkerStreamPerSession(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	cs := ts.clientStream(t, ctx, s.Id)
	if err := cs.Send(batchOf(s.Id, "a", "b")); err != nil {
		t.Fatal(err)
	}
	w := ts.newRawWorker(t, ctx)
	st := w.bindNext(t, s.Id)
	if _, err := st.Recv(); err != nil { // the first stream is served
		t.Fatal(err)
	}
	second := w.openStream(t, s.Id)
	_, err := second.Recv()
	wantCode(t, err, codes.AlreadyExists)
}
