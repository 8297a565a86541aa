package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	"github.com/alpcrun/alpcrun/internal/servicetest/servers"
	"github.com/alpcrun/alpcrun/services/internal/auth"
	"github.com/alpcrun/alpcrun/services/queuemanager"
	"github.com/alpcrun/alpcrun/services/sdk"
	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// startQM serves a real queue manager on a loopback port.
func startQM(t testing.TB, sopts ...grpc.ServerOption) string {
	t.Helper()
	_, addr := servers.QueueManager(t, queuemanager.Options{}, sopts...)
	return addr
}

// startWorkers runs n workers until the test ends, checking that each
// drains cleanly.
func startWorkers(t testing.TB, addr string, n int, h worker.Handler, opts ...worker.Option) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			o := append([]worker.Option{worker.WithPod(fmt.Sprintf("w%d", i)), worker.WithHeartbeat(time.Second)}, opts...)
			if err := worker.Run(ctx, addr, h, o...); err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func echo(_ context.Context, t worker.Task) ([]byte, error) { return t.Payload, nil }

func testCtx(t *testing.T) context.Context { return servicetest.Context(t) }

func dial(t *testing.T, ctx context.Context, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func createSession(t *testing.T, ctx context.Context, c *client.Client, o client.SessionOptions) *client.Session {
	t.Helper()
	if o.AppID == "" {
		o.AppID = "test"
	}
	s, err := c.CreateSession(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// collect reads results until the channel closes, failing on a duplicate.
func collect(t *testing.T, ctx context.Context, s *client.Session) map[string]client.Result {
	t.Helper()
	got := make(map[string]client.Result)
	for {
		select {
		case r, ok := <-s.Results():
			if !ok {
				return got
			}
			if _, dup := got[r.ID]; dup {
				t.Fatalf("result for %s delivered twice", r.ID)
			}
			got[r.ID] = r
		case <-ctx.Done():
			t.Fatalf("%d results, then: %v", len(got), ctx.Err())
		}
	}
}

func TestRoundTripExactlyOnce(t *testing.T) {
	const n = 10000
	addr := startQM(t)
	startWorkers(t, addr, 3, echo, worker.WithConcurrency(2))
	ctx := testCtx(t)
	s := createSession(t, ctx, dial(t, ctx, addr), client.SessionOptions{})

	go func() {
		for i := range n {
			id := strconv.Itoa(i)
			if err := s.Submit(ctx, id, []byte("p"+id)); err != nil {
				t.Errorf("submit %d: %v", i, err)
				break
			}
		}
		s.CloseSend()
	}()
	got := collect(t, ctx, s)
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if len(got) != n {
		t.Fatalf("%d results, want %d", len(got), n)
	}
	for id, r := range got {
		if string(r.Payload) != "p"+id || r.Attempts < 1 {
			t.Fatalf("result %s = %q (attempts %d)", id, r.Payload, r.Attempts)
		}
	}
	if p := s.Pending(); p != 0 {
		t.Fatalf("pending = %d after all results", p)
	}
}

func TestSubmitBatchAndCallback(t *testing.T) {
	addr := startQM(t)
	startWorkers(t, addr, 1, echo)
	ctx := testCtx(t)
	var mu sync.Mutex
	got := map[string]string{}
	s := createSession(t, ctx, dial(t, ctx, addr), client.SessionOptions{OnResult: func(r client.Result) {
		mu.Lock()
		got[r.ID] = string(r.Payload)
		mu.Unlock()
	}})
	if s.Results() != nil {
		t.Fatal("Results() is not nil with OnResult")
	}
	for b := range 5 {
		tasks := make([]client.Task, 20)
		for i := range tasks {
			id := fmt.Sprintf("%d-%d", b, i)
			tasks[i] = client.Task{ID: id, Payload: []byte(id)}
		}
		if err := s.SubmitBatch(ctx, tasks); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseSend()
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 100 {
		t.Fatalf("%d results, want 100", len(got))
	}
	for id, p := range got {
		if p != id {
			t.Fatalf("result %s = %q", id, p)
		}
	}
}

// A lone task must be sent without waiting for more tasks or CloseSend,
// with and without a linger.
func TestSingleTaskIsFlushed(t *testing.T) {
	addr := startQM(t)
	startWorkers(t, addr, 1, echo)
	for _, wait := range []time.Duration{0, 2 * time.Millisecond} {
		t.Run(fmt.Sprintf("maxwait=%s", wait), func(t *testing.T) {
			ctx := testCtx(t)
			s := createSession(t, ctx, dial(t, ctx, addr), client.SessionOptions{MaxWait: wait})
			if err := s.Submit(ctx, "only", []byte("x")); err != nil {
				t.Fatal(err)
			}
			select {
			case r := <-s.Results():
				if r.ID != "only" || string(r.Payload) != "x" {
					t.Fatalf("result %+v", r)
				}
			case <-ctx.Done():
				t.Fatal("the lone task's result never came")
			}
		})
	}
}

func TestDeadLetters(t *testing.T) {
	addr := startQM(t)
	startWorkers(t, addr, 2, func(_ context.Context, t worker.Task) ([]byte, error) {
		switch string(t.Payload) {
		case "fail":
			return nil, errors.New("boom")
		case "panic":
			panic("kaboom")
		}
		return t.Payload, nil
	})
	ctx := testCtx(t)
	s := createSession(t, ctx, dial(t, ctx, addr), client.SessionOptions{})
	payload := func(i int) string {
		switch i % 10 {
		case 3:
			return "fail"
		case 7:
			return "panic"
		}
		return "ok"
	}
	for i := range 100 {
		if err := s.Submit(ctx, strconv.Itoa(i), []byte(payload(i))); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseSend()
	got := collect(t, ctx, s)
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	dead, err := s.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 80 || len(dead) != 20 {
		t.Fatalf("%d results and %d dead letters, want 80 and 20", len(got), len(dead))
	}
	for _, d := range dead {
		i, _ := strconv.Atoi(d.ID)
		want := map[string]string{"fail": "boom", "panic": "worker: handler panicked: kaboom"}[payload(i)]
		if d.Error != want || string(d.Payload) != payload(i) {
			t.Fatalf("dead letter %s: error %q payload %q, want error %q", d.ID, d.Error, d.Payload, want)
		}
	}
	if again, err := s.DeadLetters(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second read: %d dead letters, %v; want none", len(again), err)
	}
	if p := s.Pending(); p != 0 {
		t.Fatalf("pending = %d", p)
	}
}

// connTracker dials through TCP, can cut every connection it made, and
// refuses new ones while blocked.
type connTracker struct {
	blocked atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
	dials   int
}

func (c *connTracker) dial(ctx context.Context, addr string) (net.Conn, error) {
	if c.blocked.Load() {
		return nil, errors.New("test: network down")
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err == nil {
		c.mu.Lock()
		c.conns = append(c.conns, conn)
		c.dials++
		c.mu.Unlock()
	}
	return conn, err
}

func (c *connTracker) cut() {
	c.blocked.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// The client's connection drops while every task is at a worker; the
// results produced while it is away reach it over the reopened stream.
func TestReconnectResumesResults(t *testing.T) {
	const n = 50
	// The queue manager reports when a client stream has ended, so the
	// test knows the results cannot go to the dead one.
	streamEnded := make(chan struct{}, 1)
	addr := startQM(t, grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := h(srv, ss)
		if info.FullMethod == "/alpcrun.v1.Queue/ClientStream" {
			streamEnded <- struct{}{}
		}
		return err
	}))
	gate := make(chan struct{})
	entered, returned := make(chan struct{}, n), make(chan struct{}, n)
	startWorkers(t, addr, 1, func(_ context.Context, t worker.Task) ([]byte, error) {
		entered <- struct{}{}
		<-gate
		returned <- struct{}{}
		return t.Payload, nil
	}, worker.WithConcurrency(n))
	ctx := testCtx(t)
	wait := func(ch <-chan struct{}, what string) {
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal(what)
		}
	}
	var tr connTracker
	c := dial(t, ctx, addr, client.WithDialOptions(
		grpc.WithContextDialer(tr.dial),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 2, MaxDelay: 100 * time.Millisecond},
			MinConnectTimeout: time.Second,
		})))
	s := createSession(t, ctx, c, client.SessionOptions{Attributes: client.Attributes{MaxInflightBatchesPerWorker: n}})
	for i := range n {
		if err := s.Submit(ctx, strconv.Itoa(i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseSend()
	for range n { // every task is at the worker: the queue manager holds them all
		wait(entered, "tasks did not all reach the worker")
	}
	tr.cut()
	wait(streamEnded, "the queue manager did not notice the client left")
	close(gate)
	for range n {
		wait(returned, "handlers did not return")
	}
	tr.blocked.Store(false)

	got := collect(t, ctx, s)
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if len(got) != n {
		t.Fatalf("%d results, want %d", len(got), n)
	}
	for id, r := range got {
		if i, _ := strconv.Atoi(id); len(r.Payload) != 1 || r.Payload[0] != byte(i) {
			t.Fatalf("result %s = %v", id, r.Payload)
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.dials < 2 {
		t.Fatalf("%d dials: the connection was never re-established", tr.dials)
	}
}

func TestErrors(t *testing.T) {
	addr := startQM(t)
	ctx := testCtx(t)
	c := dial(t, ctx, addr)

	if _, err := c.CreateSession(ctx, client.SessionOptions{}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("no app id: %v, want ErrInvalidArgument", err)
	}
	if _, err := c.CreateSession(ctx, client.SessionOptions{AppID: "a", Attributes: client.Attributes{Priority: 11}}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("priority 11: %v, want ErrInvalidArgument", err)
	}
	s := createSession(t, ctx, c, client.SessionOptions{ID: "fixed"})
	if s.ID() != "fixed" || s.Attributes().MaxAttempts != 3 || s.Attributes().IdleTimeout != time.Minute {
		t.Fatalf("session %s with %+v: defaults missing", s.ID(), s.Attributes())
	}
	if _, err := c.CreateSession(ctx, client.SessionOptions{ID: "fixed", AppID: "a"}); !errors.Is(err, client.ErrAlreadyExists) {
		t.Fatalf("same id: %v, want ErrAlreadyExists", err)
	}
	if err := s.Update(ctx, func(a *client.Attributes) { a.Priority = 7 }); err != nil || s.Attributes().Priority != 7 {
		t.Fatalf("update: %v, priority %d", err, s.Attributes().Priority)
	}
	if err := s.Submit(ctx, "", nil); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("empty id: %v", err)
	}
	if err := s.Submit(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(ctx, "a", nil); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("duplicate id: %v", err)
	}
	if err := s.SubmitBatch(ctx, []client.Task{{ID: "b"}, {ID: "b"}}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("duplicate id in batch: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("wait after close: %v, want ErrClosed", err)
	}
	if err := s.Submit(ctx, "c", nil); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("submit after close: %v, want ErrClosed", err)
	}
	if err := s.Update(ctx, func(a *client.Attributes) {}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("update after close: %v, want ErrNotFound", err)
	}
	if err := s.Close(ctx); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("second close: %v, want ErrNotFound", err)
	}

	ghost, err := c.Attach("no-such-session", client.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ghost.Wait(ctx); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("attach to unknown session: %v, want ErrNotFound", err)
	}
}

func TestClientCloseEndsSessions(t *testing.T) {
	addr := startQM(t)
	ctx := testCtx(t)
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.CreateSession(ctx, client.SessionOptions{AppID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(ctx, "never-answered", nil); err != nil { // no worker
		t.Fatal(err)
	}
	c.Close()
	if err := s.Wait(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("wait after Client.Close: %v, want ErrClosed", err)
	}
}

func TestAPIKey(t *testing.T) {
	a, _, err := auth.New("secret", "")
	if err != nil {
		t.Fatal(err)
	}
	addr := startQM(t, a.ServerOptions()...)
	ctx := testCtx(t)
	for _, tc := range []struct {
		key  string
		want error
	}{{"", client.ErrUnauthenticated}, {"wrong", client.ErrPermissionDenied}, {"secret", nil}} {
		c := dial(t, ctx, addr, client.WithAPIKey(tc.key))
		if _, err := c.CreateSession(ctx, client.SessionOptions{AppID: "a"}); !errors.Is(err, tc.want) && (err != nil || tc.want != nil) {
			t.Errorf("key %q: %v, want %v", tc.key, err, tc.want)
		}
	}
}

func TestDialUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := client.Dial(ctx, addr); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("dial: %v, want ErrUnavailable", err)
	}
}

// TestDialFromEnvironment checks that Dial with no address finds the queue
// manager through $METALCORE_QUEUE_MANAGER_ADDR.
func TestDialFromEnvironment(t *testing.T) {
	t.Setenv(sdk.EnvQueueManagerAddr, startQM(t))
	ctx := testCtx(t)
	c := dial(t, ctx, "")
	if _, err := c.CreateSession(ctx, client.SessionOptions{AppID: "a"}); err != nil {
		t.Fatal(err)
	}
}
