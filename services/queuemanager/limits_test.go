package queuemanager

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/grpctune"
)

// wantRefusal checks the code and that the message names the limit and
// its value.
func wantRefusal(t *testing.T, err error, c codes.Code, limit, value string) {
	t.Helper()
	wantCode(t, err, c)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, limit) || !strings.Contains(msg, value) {
		t.Fatalf("message %q does not name %s %s", msg, limit, value)
	}
}

func refusals(reg *prometheus.Registry, limit string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "alpcrun_refused_total" {
			continue
		}
		for _, m := range mf.Metric {
			if m.Label[0].GetValue() == limit {
				return m.Counter.GetValue()
			}
		}
	}
	return 0
}

// sendOne sends b on a new client stream and returns how the stream ends.
// A refused stream may end before the send: Recv has its status then.
func (ts *testServer) sendOne(t *testing.T, ctx context.Context, id string, b *pb.Batch) error {
	t.Helper()
	st := ts.clientStream(t, ctx, id)
	if st.Send(b) == nil {
		_ = st.CloseSend()
	}
	for {
		if _, err := st.Recv(); err != nil {
			return err
		}
	}
}

func TestLimitsConfig(t *testing.T) {
	if o := DefaultOptions(); o.Validate() != nil {
		t.Fatalf("defaults invalid: %v", o.Validate())
	}
	env := map[string]string{"ALPCRUNCH_MAXSTREAMS": "0", "ALPCRUNCH_KEEPALIVETIME": "100ms"}
	_, err := LoadConfig(flag.NewFlagSet("qm", flag.ContinueOnError), []string{
		"--maxBatchMessages", "0", "--maxSessionsPerClient", "-1", "--maxConcurrentStreams", "5000000000",
		"--maxBatchBytes", "2MiB", "--maxMessageBytes", "1MiB", "--keepaliveTimeout", "0s", "--maxConnectionIdle", "-1s",
	}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil {
		t.Fatal("bad limits accepted")
	}
	for _, key := range []string{"maxBatchMessages", "maxSessionsPerClient", "maxStreams", "maxConcurrentStreams",
		"maxMessageBytes", "keepaliveTime", "keepaliveTimeout", "maxConnectionIdle"} {
		if !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	o, err := LoadConfig(flag.NewFlagSet("qm", flag.ContinueOnError), []string{"--maxStreams", "7", "--maxConnectionIdle", "1m"},
		func(k string) (string, bool) {
			v, ok := map[string]string{"ALPCRUNCH_MAXSESSIONSPERCLIENT": "3"}[k]
			return v, ok
		})
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxStreams != 7 || o.MaxSessionsPerClient != 3 || o.Keepalive.MaxConnectionIdle != time.Minute {
		t.Fatalf("options %+v", o)
	}
}

// The default limits carry the benchmarks' largest batches: 1000 tasks of
// 4 KiB, over gRPC's own 4 MiB default.
func TestDefaultLimitsCarryLargeBatches(t *testing.T) {
	ts := startServer(t, Options{})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	cs := ts.clientStream(t, ctx, s.Id)
	b := &pb.Batch{}
	for _, id := range ids("t", 1000) {
		b.Messages = append(b.Messages, &pb.Message{Id: id, Payload: make([]byte, 4096)})
	}
	if err := cs.Send(b); err != nil {
		t.Fatal(err)
	}
	go serveEcho(ts.newRawWorker(t, ctx).bindNext(t, s.Id))
	if got := recvIDs(t, cs, 1000); len(got) != 1000 {
		t.Fatalf("%d results", len(got))
	}
}

func TestMaxBatchMessages(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{MaxBatchMessages: 3, Registerer: reg})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	err := ts.sendOne(t, ctx, s.Id, batchOf(s.Id, "a", "b", "c", "d"))
	wantRefusal(t, err, codes.InvalidArgument, "maxBatchMessages", "3")
	if n := refusals(reg, "maxBatchMessages"); n != 1 {
		t.Fatalf("refusals counted: %v", n)
	}
	sess, _ := ts.sessions.Get(s.Id)
	if n := sess.Pending(); n != 0 {
		t.Fatalf("pending = %d after a refused batch", n)
	}
	cs := ts.clientStream(t, ctx, s.Id)
	if err := cs.Send(batchOf(s.Id, "a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	endClientStream(t, cs, s.Id)
	if n := sess.Pending(); n != 1 {
		t.Fatalf("pending = %d, want the batch at the limit queued", n)
	}
}

// Batches over maxBatchBytes are decoded and refused by the queue manager;
// messages over maxMessageBytes, from clients or workers, by gRPC unread.
func TestMaxMessageBytes(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{MaxBatchBytes: 64 << 10, MaxMessageBytes: 128 << 10, Registerer: reg})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	payload := func(n int) *pb.Batch { return &pb.Batch{Messages: []*pb.Message{{Id: "a", Payload: make([]byte, n)}}} }

	err := ts.sendOne(t, ctx, s.Id, payload(100<<10))
	wantRefusal(t, err, codes.InvalidArgument, "maxBatchBytes", "65536")
	err = ts.sendOne(t, ctx, s.Id, payload(200<<10))
	wantRefusal(t, err, codes.ResourceExhausted, "larger than max", "131072")

	// A worker's oversized result ends its stream the same way.
	cs := ts.clientStream(t, ctx, s.Id)
	if err := cs.Send(payload(10)); err != nil {
		t.Fatal(err)
	}
	ws := ts.newRawWorker(t, ctx).bindNext(t, s.Id)
	task, err := ws.Recv()
	if err != nil {
		t.Fatal(err)
	}
	r := echo(task)
	r.Messages[0].Payload = make([]byte, 200<<10)
	if err := ws.Send(r); err != nil {
		t.Fatal(err)
	}
	_, err = ws.Recv()
	wantCode(t, err, codes.ResourceExhausted)
	if n := refusals(reg, "maxMessageBytes"); n != 2 {
		t.Fatalf("refusals counted: %v, want 2", n)
	}
}

func TestMaxSessionsPerClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{MaxSessionsPerClient: 2, Registerer: reg})
	ctx := testCtx(t)
	create := func(client string) (*pb.Session, error) {
		return ts.q.CreateSession(ctx, &pb.Session{App: &pb.App{Id: "test"}, Attributes: &pb.SessionAttributes{ClientId: client}})
	}
	for _, client := range []string{"alice", ""} {
		var first *pb.Session
		for i := range 2 {
			s, err := create(client)
			if err != nil {
				t.Fatalf("client %q session %d: %v", client, i, err)
			}
			first = s
		}
		_, err := create(client)
		wantRefusal(t, err, codes.ResourceExhausted, "maxSessionsPerClient", "2")
		// A closed session frees its place.
		if _, err := ts.q.CloseSession(ctx, first); err != nil {
			t.Fatal(err)
		}
		if _, err := create(client); err != nil {
			t.Fatalf("client %q after a close: %v", client, err)
		}
	}
	if _, err := create("bob"); err != nil {
		t.Fatalf("another client: %v", err)
	}
	if n := refusals(reg, "maxSessionsPerClient"); n != 2 {
		t.Fatalf("refusals counted: %v", n)
	}
}

func TestMaxStreams(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := startServer(t, Options{MaxStreams: 2, Registerer: reg})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	w := ts.newRawWorker(t, ctx)
	st := ts.clientStream(t, ctx, s.Id)
	if err := st.Send(batchOf(s.Id, "a")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ts.limits.streams.Load() == 2 }, "two streams served")

	// The worker's stream for its binding is a third.
	err := ts.sendOne(t, ctx, s.Id, batchOf(s.Id, "b"))
	wantRefusal(t, err, codes.ResourceExhausted, "maxStreams", "2")
	ws := w.bindNext(t, s.Id)
	_, err = ws.Recv()
	wantRefusal(t, err, codes.ResourceExhausted, "maxStreams", "2")
	if n := refusals(reg, "maxStreams"); n != 2 {
		t.Fatalf("refusals counted: %v", n)
	}

	// A stream that ends frees its place.
	w.cancel()
	waitFor(t, func() bool { return ts.limits.streams.Load() == 1 }, "the worker's stream released")
	if err := ts.clientStream(t, ctx, s.Id).Send(batchOf(s.Id, "c")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ts.limits.streams.Load() == 2 }, "a new stream served")
}

// maxConcurrentStreams holds a connection's extra streams back (HTTP/2
// makes the client wait) without affecting other connections.
func TestMaxConcurrentStreams(t *testing.T) {
	ts := startServer(t, Options{MaxConcurrentStreams: 2})
	ctx := testCtx(t)
	s := ts.createSession(t, ctx, nil)
	open := func(id string) error {
		st, err := ts.q.ClientStream(metadata.NewOutgoingContext(ctx, metadata.Pairs("sessionid", s.Id)))
		if err == nil {
			err = st.Send(batchOf(s.Id, id))
		}
		if err == nil {
			err = st.CloseSend()
		}
		return err
	}
	for _, id := range []string{"a", "b"} {
		if err := open(id); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return ts.limits.streams.Load() == 2 }, "two streams served")
	held := make(chan error, 1)
	go func() { held <- open("c") }()

	// A worker on its own connection is served, and answers "a" and "b",
	// which ends their streams and lets "c" in.
	other := *ts
	other.q = pb.NewQueueClient(servicetest.Dial(t, ts.addr))
	w := other.newRawWorker(t, ctx)
	ws := w.bindNext(t, s.Id)
	waitFor(t, func() bool { return ts.limits.streams.Load() == 4 }, "the worker's streams served")
	select {
	case err := <-held:
		t.Fatalf("a third stream on a full connection opened (%v)", err)
	default:
	}
	go serveEcho(ws)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// The queue manager's keepalive closes connections that hold no stream.
func TestIdleConnectionClosed(t *testing.T) {
	ts := startServer(t, Options{Keepalive: grpctune.ServerKeepalive{MaxConnectionIdle: 50 * time.Millisecond}})
	ctx := testCtx(t)
	ts.createSession(t, ctx, nil)
	if !ts.cc.WaitForStateChange(ctx, connectivity.Ready) {
		t.Fatal("idle connection still open after the deadline")
	}
}

// Run serves with the configured transport limits.
func TestRunAppliesTransportLimits(t *testing.T) {
	t.Setenv("METALCORE_API_KEY", "")
	cfg := DefaultOptions()
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", ""
	cfg.MaxBatchBytes, cfg.MaxMessageBytes = 32<<10, 64<<10
	ctx := testCtx(t)
	addr := servicetest.RunUntilReady(t, func(ctx context.Context, ready chan<- string) error { return Run(ctx, cfg, ready) })
	ts := &testServer{q: pb.NewQueueClient(servicetest.Dial(t, addr))}
	s := ts.createSession(t, ctx, nil)
	err := ts.sendOne(t, ctx, s.Id, &pb.Batch{Messages: []*pb.Message{{Id: "a", Payload: make([]byte, 100<<10)}}})
	wantRefusal(t, err, codes.ResourceExhausted, "larger than max", "65536")
}
