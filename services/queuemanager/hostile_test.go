package queuemanager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	sdkworker "github.com/alpcrun/alpcrun/services/sdk/worker"
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
// never blocked: the overflow waits, the session gets no worker until its
// client reads its dead letters (as the SDK does while it runs), and then
// every task is accounted for.
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
	sess, err := ts.sessions.Get(s.Id)
	if err != nil {
		t.Fatal(err)
	}
	w, err := sdkworker.New(ts.addr, func(context.Context, sdkworker.Task) ([]byte, error) {
		return nil, errors.New("boom")
	}, sdkworker.WithConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = w.Run(wctx) }()
	defer func() { cancel(); <-stopped }()

	backedUp, read := false, 0
	for read < failing {
		waitFor(t, func() bool { return sess.DeadFull() || sess.Outstanding() == 0 }, "dead letters to read")
		backedUp = backedUp || sess.DeadFull()
		read += len(readDead(t, ctx, ts, s.Id))
	}
	if read != failing || !backedUp {
		t.Fatalf("read %d dead letters (want %d), backed up %v (want true)", read, failing, backedUp)
	}
	if _, err := cs.Recv(); err != io.EOF {
		t.Fatalf("client stream: %v, want the end after every task failed", err)
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

// Session fields that cost memory on every response, log line and page
// that names them are bounded; attributes that size per-worker buffers
// are lowered to the server's caps; a session without task_timeout gets
// the server's.
func TestSessionFieldBounds(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registerer: reg, MaxFieldBytes: 16, MaxTags: 2, MaxAttempts: 5, MaxInflightBatches: 20, TaskTimeout: time.Minute})
	ctx := testCtx(t)
	long := strings.Repeat("x", 17)
	for name, in := range map[string]*pb.Session{
		"id":        {Id: long, App: &pb.App{Id: "a"}},
		"app":       {App: &pb.App{Id: long}},
		"client_id": {App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{ClientId: long}},
		"tag":       {App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{Tags: []string{long}}},
		"tags":      {App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{Tags: []string{"a", "b", "c"}}},
	} {
		_, err := ts.q.CreateSession(ctx, in)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s over its bound: %v, want InvalidArgument", name, err)
		}
	}
	if got := refusals(reg, "maxFieldBytes") + refusals(reg, "maxTags"); got != 5 {
		t.Errorf("%v refusals counted, want 5", got)
	}
	s := ts.createSession(t, ctx, &pb.SessionAttributes{MaxAttempts: 1 << 30, MaxInflightBatchesPerWorker: 1 << 31})
	a := s.GetAttributes()
	if a.GetMaxAttempts() != 5 || a.GetMaxInflightBatchesPerWorker() != 20 || a.GetTaskTimeout().AsDuration() != time.Minute {
		t.Fatalf("attributes %v, want max_attempts 5, max_inflight 20, task_timeout 1m", a)
	}
	// A worker of that session is served with a window of 20.
	cs := ts.clientStream(t, ctx, s.Id)
	for i := range 25 {
		if err := cs.Send(batchOf(s.Id, fmt.Sprint("t", i))); err != nil {
			t.Fatal(err)
		}
	}
	w := ts.newRawWorker(t, ctx)
	md := metadata.Pairs("workerid", w.id, "sessionid", s.Id, "revoke", "1")
	if in := w.next(t); in.Type != pb.Instruction_BIND || in.MaxInflightBatches != 20 {
		t.Fatalf("instruction %v, want BIND with a window of 20", in)
	}
	st, err := ts.q.WorkerStream(metadata.NewOutgoingContext(ctx, md))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, err := st.Recv(); err != nil {
			t.Fatal(err)
		}
	}
}

// A client stream that names no session and sends no batch is ended after
// firstBatchTimeout, so idle streams cannot hold maxStreams' places.
func TestIdleClientStreamEnds(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{Registerer: reg, FirstBatchTimeout: 50 * time.Millisecond})
	st, err := ts.q.ClientStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	wantCode(t, err, codes.DeadlineExceeded)
	if got := refusals(reg, "firstBatchTimeout"); got != 1 {
		t.Fatalf("%v refusals counted, want 1", got)
	}
}

// Health Watch streams need no API key, so they have a bound of their own;
// the probes' unary Check is not limited.
func TestHealthWatchesBounded(t *testing.T) {
	cfg := DefaultOptions()
	cfg.Listen, cfg.HTTPListen, cfg.MaxHealthWatches = "127.0.0.1:0", "", 2
	ctx := testCtx(t)
	h := healthpb.NewHealthClient(runServer(t, cfg))
	for range 2 {
		w, err := h.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	w, err := h.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted)
	if _, err := h.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check while the watches are full: %v", err)
	}
}

// Identity comes from the key: a key file gives keys a tenant and roles.
// A tenant's key creates and reaches only its tenant's sessions, whatever
// client_id it claims; a worker key cannot act as a client, nor a client
// key as a worker; only an admin key sees every session.
func TestKeysGiveTenantsAndRoles(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("alice tenant=alice roles=client\nbob tenant=bob roles=client\nw roles=worker\nroot roles=admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultOptions()
	cfg.Listen, cfg.HTTPListen, cfg.APIKeyFile, cfg.MaxStreamsPerTenant = "127.0.0.1:0", "", keys, 2
	ctx := testCtx(t)
	cc := runServer(t, cfg)
	q, adm := pb.NewQueueClient(cc), pb.NewAdminClient(cc)
	as := func(key string) context.Context { return metadata.AppendToOutgoingContext(ctx, "api_key", key) }

	s, err := q.CreateSession(as("alice"), &pb.Session{App: &pb.App{Id: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.GetAttributes().GetClientId(); got != "alice" || !strings.HasPrefix(s.Id, "alice:") {
		t.Fatalf("alice's session %q has client_id %q", s.Id, got)
	}
	// Ids are the tenant's own: bob cannot take one alice may create or
	// re-create after a restart.
	for _, id := range []string{"alice:mine", "plain"} {
		_, err := q.CreateSession(as("bob"), &pb.Session{Id: id, App: &pb.App{Id: "a"}})
		wantCode(t, err, codes.PermissionDenied)
	}
	if _, err := q.CreateSession(as("bob"), &pb.Session{Id: "bob:mine", App: &pb.App{Id: "a"}}); err != nil {
		t.Fatalf("bob's own id: %v", err)
	}
	_, err = q.CreateSession(as("bob"), &pb.Session{App: &pb.App{Id: "a"}, Attributes: &pb.SessionAttributes{ClientId: "alice"}})
	wantCode(t, err, codes.PermissionDenied)
	_, err = q.CloseSession(as("bob"), &pb.Session{Id: s.Id})
	wantCode(t, err, codes.PermissionDenied)
	st, err := q.ClientStream(metadata.AppendToOutgoingContext(as("bob"), "sessionid", s.Id))
	if err == nil {
		_, err = st.Recv()
	}
	wantCode(t, err, codes.PermissionDenied)
	_, err = q.CreateSession(as("w"), &pb.Session{App: &pb.App{Id: "a"}})
	wantCode(t, err, codes.PermissionDenied)
	ctl, err := q.WorkerUpdate(as("alice"))
	if err == nil {
		_, err = ctl.Recv()
	}
	wantCode(t, err, codes.PermissionDenied)
	ctl, err = q.WorkerUpdate(metadata.AppendToOutgoingContext(as("w"), "node", "n", "pod", "p"))
	if err != nil {
		t.Fatal(err)
	}
	if hdr, err := ctl.Header(); err != nil || len(hdr.Get("workerid")) != 1 {
		t.Fatalf("a worker key registers: %v %v", hdr, err)
	}

	// A tenant's streams are bounded apart from everyone's: of three, one
	// is refused (which one depends on arrival order).
	sctx, stop := context.WithCancel(as("bob"))
	refused := make(chan codes.Code, 3)
	for range 3 {
		st, err := q.ClientStream(metadata.AppendToOutgoingContext(sctx, "sessionid", "bob:mine"))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := st.Recv()
			refused <- status.Code(err)
		}()
	}
	if c := <-refused; c != codes.ResourceExhausted {
		t.Fatalf("the third stream of a tenant limited to 2: %v, want ResourceExhausted", c)
	}
	stop()

	for key, want := range map[string]int{"bob": 1, "alice": 1, "root": 2, "w": 0} {
		r, err := adm.ListSessions(as(key), &pb.ListSessionsRequest{})
		if err != nil {
			t.Fatalf("%s lists sessions: %v", key, err)
		}
		if len(r.Sessions) != want {
			t.Errorf("%s sees %d sessions, want %d", key, len(r.Sessions), want)
		}
	}
}

// A task's bytes stay in the budget until its answer is sent to the
// client, so through a budget of two batches every batch still gets its
// result once the client reads: sending results gives the room back. (A
// client that does not read is held to its budget: cmd/hostile case 6c.)
func TestByteBudgetFreedBySentAnswers(t *testing.T) {
	const size, batches = 16 << 10, 20
	ts := startServer(t, Options{MaxSessionBytes: 2 * size, MaxQueuedBytes: 4 * size})
	ctx := testCtx(t)
	a := ts.createSession(t, ctx, nil)
	cs := ts.clientStream(t, ctx, a.Id)
	w := ts.newRawWorker(t, ctx)
	go func() {
		for i := range batches {
			b := &pb.Batch{SessionId: a.Id, Messages: []*pb.Message{{Id: fmt.Sprint("t", i), Payload: make([]byte, size)}}}
			if cs.Send(b) != nil {
				return
			}
		}
		_ = cs.CloseSend()
	}()
	go serveEcho(w.bindNext(t, a.Id))
	got := 0
	for {
		r, err := cs.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d results: %v", got, err)
		}
		got += len(r.Messages)
	}
	if got != batches {
		t.Fatalf("%d results, want %d", got, batches)
	}
}
