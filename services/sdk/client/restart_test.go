package client_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/internal/servicetest/servers"
	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/queuemanager"
	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// qmProcess is a queue manager that can be stopped and started again on
// the same address, losing everything it held, as a restarted process does.
type qmProcess struct {
	t    *testing.T
	addr string
	g    *grpc.Server
	srv  *queuemanager.Server
}

func (p *qmProcess) start() {
	p.t.Helper()
	opts := queuemanager.DefaultOptions()
	opts.SchedulerInterval = servers.SchedulerInterval
	srv, err := queuemanager.New(opts)
	if err != nil {
		p.t.Fatal(err)
	}
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.addr = lis.Addr().String()
	p.g, p.srv = grpc.NewServer(grpctune.ServerOptions()...), srv
	srv.Register(p.g)
	go func() { _ = p.g.Serve(lis) }()
}

func (p *qmProcess) stop() {
	p.g.Stop()
	p.srv.Close()
}

// The queue manager restarts while tasks are queued, at workers and
// answered: the client SDK creates the session again and resubmits what has
// no answer, the workers register again, and every task gets exactly one
// result.
func TestQueueManagerRestart(t *testing.T) {
	const n = 2000
	qm := &qmProcess{t: t}
	qm.start()
	t.Cleanup(func() { qm.stop() })
	var ran atomic.Int64
	release := make(chan struct{})
	startWorkers(t, qm.addr, 2, func(ctx context.Context, task worker.Task) ([]byte, error) {
		// Half the tasks are answered before the restart; the rest wait
		// until it happened, so they are lost with the old process.
		if i, _ := strconv.Atoi(task.ID); i >= n/2 {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ran.Add(1)
		return task.Payload, nil
	}, worker.WithConcurrency(4))
	ctx := testCtx(t)
	c := dial(t, ctx, qm.addr)
	s := createSession(t, ctx, c, client.SessionOptions{})
	go func() {
		for i := range n {
			if err := s.Submit(ctx, strconv.Itoa(i), []byte(strconv.Itoa(i))); err != nil {
				t.Errorf("submit %d: %v", i, err)
				return
			}
		}
		s.CloseSend()
	}()
	got := make(map[string]bool)
	restarted := false
	for len(got) < n {
		select {
		case r, ok := <-s.Results():
			if !ok {
				t.Fatalf("results closed after %d: %v", len(got), s.Wait(ctx))
			}
			if got[r.ID] {
				t.Fatalf("result for %s delivered twice", r.ID)
			}
			if string(r.Payload) != r.ID {
				t.Fatalf("result %s = %q", r.ID, r.Payload)
			}
			got[r.ID] = true
		case <-ctx.Done():
			t.Fatalf("%d of %d results before the deadline (restarted: %v)", len(got), n, restarted)
		}
		if len(got) == n/4 && !restarted {
			qm.stop()
			qm.start()
			restarted = true
			close(release)
		}
	}
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if s.Recreated() == 0 || s.Resubmitted() == 0 {
		t.Fatalf("recreated %d times, %d tasks resubmitted: the restart went unnoticed", s.Recreated(), s.Resubmitted())
	}
	t.Logf("%d tasks run for %d results; %d resubmitted", ran.Load(), n, s.Resubmitted())
}

// levelSource answers a shared-data read with the level asked for, so a
// handler can tell which level its batch named.
type levelSource struct{}

func (levelSource) Get(_ context.Context, _ string, level uint32) (any, error) { return level, nil }

// Tasks resubmitted after a restart keep the shared-data level they were
// submitted under, also when the level changed while they were unanswered.
func TestResubmissionKeepsSharedDataLevel(t *testing.T) {
	const n = 400
	qm := &qmProcess{t: t}
	qm.start()
	t.Cleanup(func() { qm.stop() })
	release := make(chan struct{})
	startWorkers(t, qm.addr, 2, func(ctx context.Context, task worker.Task) ([]byte, error) {
		select { // nothing is answered before the restart
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []byte(strconv.Itoa(int(task.SharedData.(uint32)))), nil
	}, worker.WithSharedData(levelSource{}), worker.WithConcurrency(4))
	ctx := testCtx(t)
	c := dial(t, ctx, qm.addr)
	one, two := uint32(1), uint32(2)
	s := createSession(t, ctx, c, client.SessionOptions{SharedDataLevel: &one})
	want := map[string]string{}
	for i := range n {
		if i == n/2 {
			s.SetSharedDataLevel(&two)
		}
		id := strconv.Itoa(i)
		want[id] = strconv.Itoa(1 + 2*i/n)
		if err := s.Submit(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseSend()
	qm.stop()
	qm.start()
	close(release)
	got := collect(t, ctx, s)
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if len(got) != n || s.Resubmitted() == 0 {
		t.Fatalf("%d results, %d resubmitted", len(got), s.Resubmitted())
	}
	for id, r := range got {
		if string(r.Payload) != want[id] {
			t.Fatalf("task %s ran at shared-data level %s, submitted under %s", id, r.Payload, want[id])
		}
	}
}
