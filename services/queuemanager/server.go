// Package queuemanager serves the Queue service of alpcrun.proto: sessions,
// their queues, the worker registry and the scheduler, as a thin gRPC edge
// over core/session and core/scheduler.
package queuemanager

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/core/session"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// Server implements alpcrunpb.QueueServer.
type Server struct {
	pb.UnsafeQueueServer

	opts     Options
	log      *slog.Logger
	sessions *session.Registry
	workers  *workerRegistry
	sched    *schedLoop
	metrics  *metrics
	limits   limits
	dash     *dashboard // dashboard.go

	stop     context.CancelFunc
	stopped  chan struct{}
	stopOnce sync.Once
}

// New builds a queue manager and starts its scheduler loop. Options
// start from DefaultOptions; New reports every bad one.
func New(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, log: opts.Logger, workers: newWorkerRegistry(), stopped: make(chan struct{})}
	sl, err := newSchedLoop(s)
	if err != nil {
		return nil, err
	}
	s.sched = sl
	s.sessions, err = session.NewRegistry(session.Config{
		QueueKind:    opts.QueueType,
		BufferSize:   opts.BufferSize,
		Expiry:       opts.SessionExpiry,
		Notify:       s.sched.sessionChanged,
		Drained:      s.sched.sessionDrained,
		SessionBytes: int64(opts.MaxSessionBytes),
		TotalBytes:   int64(opts.MaxQueuedBytes),
		Split: func(b any, n int) (head, tail any) {
			s.metrics.split.Inc()
			return splitBatch(b, n)
		},
		Exhausted: func(t *session.Batch) {
			b := t.Payload.(*pb.Batch)
			s.metrics.dead.Add(float64(len(b.Messages)))
			s.countDead(b, len(b.Messages))
		},
	})
	if err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s, opts.Registerer)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		defer close(s.stopped)
		s.sched.run(ctx)
	}()
	s.dash = newDashboard(s)
	go s.dash.run(ctx)
	return s, nil
}

// Register adds the Queue service to g, its streaming calls counted
// against MaxStreams, and the Admin service (admin.go). Serve g with
// ServerOptions for the transport limits.
func (s *Server) Register(g *grpc.Server) {
	pb.RegisterQueueServer(g, limited{s})
	pb.RegisterAdminServer(g, adminServer{s: s})
}

// Close stops the scheduler loop. Streams end when the gRPC server stops.
func (s *Server) Close() {
	s.stopOnce.Do(func() {
		s.stop()
		<-s.stopped
		<-s.dash.done
	})
}

func (s *Server) now() time.Time { return s.opts.Now() }
