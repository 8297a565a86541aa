package worker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	"github.com/alpcrun/alpcrun/internal/servicetest/servers"
	"github.com/alpcrun/alpcrun/services/internal/auth"
	"github.com/alpcrun/alpcrun/services/queuemanager"
	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

func startQM(t *testing.T, sopts ...grpc.ServerOption) string {
	t.Helper()
	_, addr := servers.QueueManager(t, queuemanager.Options{}, sopts...)
	return addr
}

func testCtx(t *testing.T) context.Context { return servicetest.Context(t) }

// runWorker runs w until the test ends or stop is called; stop waits for
// Run to return and checks that it returned nil.
func runWorker(t *testing.T, w *worker.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newWorker(t *testing.T, addr string, h worker.Handler, opts ...worker.Option) *worker.Worker {
	t.Helper()
	w, err := worker.New(addr, h, append([]worker.Option{worker.WithHeartbeat(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func session(t *testing.T, ctx context.Context, addr string, o client.SessionOptions) *client.Session {
	t.Helper()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	o.AppID = "test"
	s, err := c.CreateSession(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// submitAll submits ids 0..n-1 with payload = id and half-closes; it may
// run on its own goroutine.
func submitAll(t *testing.T, ctx context.Context, s *client.Session, n int) {
	for i := range n {
		id := strconv.Itoa(i)
		if err := s.Submit(ctx, id, []byte(id)); err != nil {
			t.Errorf("submit %d: %v", i, err)
			return
		}
	}
	s.CloseSend()
}

// results drains the session, failing on a duplicate result.
func results(t *testing.T, ctx context.Context, s *client.Session) map[string]string {
	t.Helper()
	got := make(map[string]string)
	for {
		select {
		case r, ok := <-s.Results():
			if !ok {
				if err := s.Wait(ctx); err != nil {
					t.Fatalf("wait: %v", err)
				}
				return got
			}
			if _, dup := got[r.ID]; dup {
				t.Fatalf("result for %s delivered twice", r.ID)
			}
			got[r.ID] = string(r.Payload)
		case <-ctx.Done():
			t.Fatalf("%d results, then: %v", len(got), ctx.Err())
		}
	}
}

func echo(_ context.Context, t worker.Task) ([]byte, error) { return t.Payload, nil }

// events records the states a worker reports.
type events struct{ ch chan worker.Event }

func newEvents() *events { return &events{ch: make(chan worker.Event, 1024)} }

func (e *events) hook(ev worker.Event) { e.ch <- ev }

// await waits for an event that matches.
func (e *events) await(t *testing.T, ctx context.Context, what string, match func(worker.Event) bool) worker.Event {
	t.Helper()
	for {
		select {
		case ev := <-e.ch:
			if match(ev) {
				return ev
			}
		case <-ctx.Done():
			t.Fatalf("no event: %s", what)
		}
	}
}

// A worker stopped while it holds tasks drains: nothing is lost or
// answered twice, and it reports DRAINING.
func TestDrainLosesNothing(t *testing.T) {
	const n = 3000
	addr := startQM(t)
	ctx := testCtx(t)
	draining := newEvents()
	var handled atomic.Int32
	hold := make(chan struct{}) // the 100th task of the drained worker waits here
	held := make(chan struct{})
	a := newWorker(t, addr, func(ctx context.Context, tk worker.Task) ([]byte, error) {
		if handled.Add(1) == 100 {
			close(held)
			<-hold
		}
		return tk.Payload, nil
	}, worker.WithConcurrency(2), worker.WithStateHook(draining.hook))
	stopA := runWorker(t, a)
	runWorker(t, newWorker(t, addr, echo, worker.WithConcurrency(2)))

	s := session(t, ctx, addr, client.SessionOptions{})
	go submitAll(t, ctx, s, n)
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the first worker never got 100 tasks")
	}
	stopped := make(chan struct{})
	go func() {
		stopA()
		close(stopped)
	}()
	draining.await(t, ctx, "DRAINING", func(ev worker.Event) bool { return ev.State == worker.StateDraining })
	close(hold)
	got := results(t, ctx, s)
	<-stopped
	if len(got) != n {
		t.Fatalf("%d results, want %d", len(got), n)
	}
	for id, p := range got {
		if p != id {
			t.Fatalf("result %s = %q", id, p)
		}
	}
	if dead, err := s.DeadLetters(ctx); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters: %v, %v", dead, err)
	}
}

func TestBatchHandler(t *testing.T) {
	addr := startQM(t)
	ctx := testCtx(t)
	w, err := worker.NewBatch(addr, func(_ context.Context, tasks []worker.Task, res []worker.Result) error {
		for i, tk := range tasks {
			if tk.ID == "13" {
				return errors.New("unlucky batch")
			}
			if n, _ := strconv.Atoi(tk.ID); n%2 == 1 {
				res[i].Err = errors.New("odd")
				continue
			}
			res[i].Payload = append([]byte("r"), tk.Payload...)
		}
		return nil
	}, worker.WithHeartbeat(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	runWorker(t, w)
	s := session(t, ctx, addr, client.SessionOptions{MaxBatchSize: 10})
	for b := range 10 { // ids 10b..10b+9 in one batch
		tasks := make([]client.Task, 10)
		for i := range tasks {
			id := strconv.Itoa(10*b + i)
			tasks[i] = client.Task{ID: id, Payload: []byte(id)}
		}
		if err := s.SubmitBatch(ctx, tasks); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseSend()
	got := results(t, ctx, s)
	dead, err := s.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		id := strconv.Itoa(i)
		if i/10 == 1 || i%2 == 1 {
			continue
		}
		if got[id] != "r"+id {
			t.Fatalf("result %s = %q", id, got[id])
		}
	}
	// In batch 10-19 the handler gave up at 13: every task without an
	// error of its own (11 has one) failed with the handler's.
	if len(got) != 45 || len(dead) != 55 {
		t.Fatalf("%d results and %d dead letters, want 45 and 55", len(got), len(dead))
	}
	for _, d := range dead {
		n, _ := strconv.Atoi(d.ID)
		want := "odd"
		if n/10 == 1 && n != 11 {
			want = "unlucky batch"
		}
		if d.Error != want {
			t.Fatalf("dead letter %s: %q, want %q", d.ID, d.Error, want)
		}
	}
}

// At most WithConcurrency handlers run at once, and that many do.
func TestConcurrencyLimit(t *testing.T) {
	const slots = 3
	addr := startQM(t)
	ctx := testCtx(t)
	var running, entered atomic.Int32
	var over atomic.Bool
	allIn := make(chan struct{})
	runWorker(t, newWorker(t, addr, func(ctx context.Context, tk worker.Task) ([]byte, error) {
		defer running.Add(-1)
		if running.Add(1) > slots {
			over.Store(true)
		}
		if e := entered.Add(1); e <= slots { // the first ones wait for each other
			if e == slots {
				close(allIn)
			}
			select {
			case <-allIn:
			case <-ctx.Done():
			}
		}
		return tk.Payload, nil
	}, worker.WithConcurrency(slots)))
	s := session(t, ctx, addr, client.SessionOptions{MaxBatchSize: 4})
	go submitAll(t, ctx, s, 200)
	if got := results(t, ctx, s); len(got) != 200 {
		t.Fatalf("%d results", len(got))
	}
	if over.Load() {
		t.Fatalf("more than %d handlers ran at once", slots)
	}
}

type levels struct{}

func (levels) Get(_ context.Context, sessionID string, level uint32) (any, error) {
	return fmt.Sprintf("%s@%d", sessionID, level), nil
}

func TestSharedData(t *testing.T) {
	addr := startQM(t)
	ctx := testCtx(t)
	level := uint32(7)
	h := func(_ context.Context, tk worker.Task) ([]byte, error) {
		return []byte(tk.SharedData.(string)), nil
	}

	t.Run("source", func(t *testing.T) {
		stop := runWorker(t, newWorker(t, addr, h, worker.WithSharedData(levels{})))
		defer stop()
		s := session(t, ctx, addr, client.SessionOptions{SharedDataLevel: &level})
		submitAll(t, ctx, s, 10)
		got := results(t, ctx, s)
		if len(got) != 10 || got["3"] != s.ID()+"@7" {
			t.Fatalf("results %v", got)
		}
	})
	t.Run("no-source", func(t *testing.T) {
		stop := runWorker(t, newWorker(t, addr, h))
		defer stop()
		s := session(t, ctx, addr, client.SessionOptions{SharedDataLevel: &level})
		submitAll(t, ctx, s, 10)
		if got := results(t, ctx, s); len(got) != 0 {
			t.Fatalf("results %v, want none", got)
		}
		dead, err := s.DeadLetters(ctx)
		if err != nil || len(dead) != 10 || !strings.Contains(dead[0].Error, "no SharedDataSource") {
			t.Fatalf("dead letters %+v, %v", dead, err)
		}
	})
}

// The worker reports IDLE, BOUND to the session with work, and IDLE again
// once the session is closed and its stream ended.
func TestStates(t *testing.T) {
	addr := startQM(t)
	ctx := testCtx(t)
	ev := newEvents()
	runWorker(t, newWorker(t, addr, echo, worker.WithStateHook(ev.hook)))
	first := ev.await(t, ctx, "IDLE at start", func(e worker.Event) bool { return true })
	if first.State != worker.StateIdle || first.WorkerID == "" {
		t.Fatalf("first event %+v, want IDLE with a worker id", first)
	}
	s := session(t, ctx, addr, client.SessionOptions{})
	if err := s.Submit(ctx, "x", nil); err != nil {
		t.Fatal(err)
	}
	ev.await(t, ctx, "BOUND", func(e worker.Event) bool { return e.State == worker.StateBound && e.SessionID == s.ID() })
	<-s.Results()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ev.await(t, ctx, "IDLE after close", func(e worker.Event) bool { return e.State == worker.StateIdle })
}

// When its connection drops, the worker registers again under a new id and
// goes on working.
func TestControlReconnect(t *testing.T) {
	addr := startQM(t)
	ctx := testCtx(t)
	var mu sync.Mutex
	var conns []net.Conn
	dialer := func(ctx context.Context, a string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}
	ev := newEvents()
	runWorker(t, newWorker(t, addr, echo, worker.WithStateHook(ev.hook), worker.WithDialOptions(
		grpc.WithContextDialer(dialer),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 2, MaxDelay: 100 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))))
	first := ev.await(t, ctx, "registration", func(worker.Event) bool { return true })
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	ev.await(t, ctx, "registration under a new id", func(e worker.Event) bool { return e.WorkerID != first.WorkerID })

	s := session(t, ctx, addr, client.SessionOptions{})
	submitAll(t, ctx, s, 20)
	if got := results(t, ctx, s); len(got) != 20 {
		t.Fatalf("%d results after reconnecting", len(got))
	}
}

func TestRejectedKeyEndsRun(t *testing.T) {
	a, _, err := auth.New("secret", "")
	if err != nil {
		t.Fatal(err)
	}
	addr := startQM(t, a.ServerOptions()...)
	ctx := testCtx(t)
	err = newWorker(t, addr, echo, worker.WithAPIKey("wrong")).Run(ctx)
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Run: %v, want PERMISSION_DENIED", err)
	}
}
