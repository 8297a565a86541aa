package queuemanager

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// testServer is a queue manager on a loopback port with a client for it.
type testServer struct {
	*Server
	addr string
	cc   *grpc.ClientConn
	q    pb.QueueClient
}

// startServer serves a queue manager with opts, whose zero fields take
// DefaultOptions' values (the scheduler ticks every 20ms), and the
// transport limits Run serves with, until the test ends.
func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	def := DefaultOptions()
	def.SchedulerInterval = 20 * time.Millisecond
	srv, addr := servicetest.Start(t, New, servicetest.Defaults(opts, def))
	cc := servicetest.Dial(t, addr)
	return &testServer{Server: srv, addr: addr, cc: cc, q: pb.NewQueueClient(cc)}
}

func testCtx(t *testing.T) context.Context { return servicetest.Context(t) }

func wantCode(t *testing.T, err error, c codes.Code) {
	t.Helper()
	servicetest.WantCode(t, err, c)
}

func (ts *testServer) createSession(t *testing.T, ctx context.Context, attrs *pb.SessionAttributes) *pb.Session {
	t.Helper()
	s, err := ts.q.CreateSession(ctx, &pb.Session{App: &pb.App{Id: "test"}, Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawWorker is a worker speaking the protocol by hand, so that tests can
// misbehave on purpose (stay silent, answer late, vanish).
type rawWorker struct {
	id      string
	ctl     grpc.BidiStreamingClient[pb.WorkerState, pb.Instruction]
	cancel  context.CancelFunc
	instr   chan *pb.Instruction
	q       pb.QueueClient
	ctx     context.Context
	ctlDone chan struct{}
}

func (ts *testServer) newRawWorker(t *testing.T, ctx context.Context) *rawWorker {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	md := metadata.Pairs("node", "n1", "pod", "p1")
	ctl, err := ts.q.WorkerUpdate(metadata.NewOutgoingContext(ctx, md))
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Send(&pb.WorkerState{State: pb.WorkerState_IDLE}); err != nil {
		t.Fatal(err)
	}
	hdr, err := ctl.Header()
	if err != nil {
		t.Fatal(err)
	}
	ids := hdr.Get("workerid")
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("header workerid = %v", ids)
	}
	w := &rawWorker{id: ids[0], ctl: ctl, cancel: cancel, instr: make(chan *pb.Instruction, 16), q: ts.q, ctx: ctx, ctlDone: make(chan struct{})}
	go func() {
		defer close(w.ctlDone)
		for {
			in, err := ctl.Recv()
			if err != nil {
				return
			}
			w.instr <- in
		}
	}()
	return w
}

// next waits for the worker's next instruction.
func (w *rawWorker) next(t *testing.T) *pb.Instruction {
	t.Helper()
	select {
	case in := <-w.instr:
		return in
	case <-w.ctx.Done():
		t.Fatal("no instruction before the deadline")
		return nil
	}
}

func (w *rawWorker) openStream(t *testing.T, sessionID string) grpc.BidiStreamingClient[pb.Batch, pb.Batch] {
	t.Helper()
	md := metadata.Pairs("workerid", w.id, "sessionid", sessionID)
	st, err := w.q.WorkerStream(metadata.NewOutgoingContext(w.ctx, md))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func echo(b *pb.Batch) *pb.Batch {
	out := &pb.Batch{Id: b.Id, SessionId: b.SessionId}
	for _, m := range b.Messages {
		out.Messages = append(out.Messages, &pb.Message{Id: m.Id, Payload: m.Payload})
	}
	return out
}

func batchOf(sessionID string, ids ...string) *pb.Batch {
	b := &pb.Batch{SessionId: sessionID}
	for _, id := range ids {
		b.Messages = append(b.Messages, &pb.Message{Id: id, Payload: []byte(id)})
	}
	return b
}
