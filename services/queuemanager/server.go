// Package queuemanager serves the Queue service of alpcrun.proto: sessions,
// their queues, the worker registry and the scheduler, as a thin gRPC edge
// over core/session and core/scheduler.
package queuemanager

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/core/session"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/grpctune"
)

// Options are the queue manager's behaviour settings (the service config
// minus listeners and TLS, which the main owns).
type Options struct {
	BufferSize        int
	QueueType         queue.Kind
	Scheduler         string
	Preemption        bool
	SchedulerInterval time.Duration
	WorkerTimeout     time.Duration
	SessionExpiry     time.Duration
	MaxBatchBytes     int
	// Abuse limits (limits.go): MaxBatchMessages caps a client batch's
	// messages; MaxSessionsPerClient the open sessions created under one
	// client_id (sessions created without one count as one anonymous
	// client); MaxStreams the streaming calls served at once.
	MaxBatchMessages     int
	MaxSessionsPerClient int
	MaxStreams           int
	// Transport limits, applied by ServerOptions: the largest message
	// received (task and result batches alike; raised to MaxBatchBytes if
	// below), the concurrent streams of one connection, and keepalive.
	MaxMessageBytes      int
	MaxConcurrentStreams int
	Keepalive            grpctune.ServerKeepalive
	// RequireClientID serves a session's streams and changes only to calls
	// that carry its client_id in metadata "clientid".
	RequireClientID bool
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// DefaultOptions are the defaults of SPEC §8.
func DefaultOptions() Options {
	return Options{
		BufferSize:        queue.DefaultCapacity,
		QueueType:         queue.Priority,
		Scheduler:         "priority",
		SchedulerInterval: time.Second,
		WorkerTimeout:     60 * time.Second,
		SessionExpiry:     session.DefaultExpiry,
		MaxBatchBytes:     64 << 20,
		// A 1000-task batch of 4 KiB payloads is 4.1 MB; loadgen and the
		// benchmarks send at most 1000 tasks a batch.
		MaxBatchMessages: 100_000,
		// loadgen's CreateSession point opens Total (10,000 by default)
		// sessions without a client_id before it closes them.
		MaxSessionsPerClient: 100_000,
		// 10,000 workers (two streams each) and as many client streams,
		// with room; every stream costs a few goroutines and buffers.
		MaxStreams: 50_000,
		// Room for a maxBatchBytes batch plus framing, as grpctune.Tuned.
		MaxMessageBytes: 80 << 20,
		// The SDK client multiplexes all its sessions on one connection
		// (the soak scale test: 10,000).
		MaxConcurrentStreams: 20_000,
		Keepalive:            grpctune.DefaultServerKeepalive(),
	}
}

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

// New builds a queue manager and starts its scheduler loop.
func New(opts Options) (*Server, error) {
	def := DefaultOptions()
	if opts.BufferSize == 0 {
		opts.BufferSize = def.BufferSize
	}
	if opts.QueueType == "" {
		opts.QueueType = def.QueueType
	}
	if opts.Scheduler == "" {
		opts.Scheduler = def.Scheduler
	}
	if opts.SchedulerInterval == 0 {
		opts.SchedulerInterval = def.SchedulerInterval
	}
	if opts.WorkerTimeout == 0 {
		opts.WorkerTimeout = def.WorkerTimeout
	}
	if opts.SessionExpiry == 0 {
		opts.SessionExpiry = def.SessionExpiry
	}
	if opts.MaxBatchBytes == 0 {
		opts.MaxBatchBytes = def.MaxBatchBytes
	}
	for _, v := range []struct{ p, def *int }{
		{&opts.MaxBatchMessages, &def.MaxBatchMessages}, {&opts.MaxSessionsPerClient, &def.MaxSessionsPerClient},
		{&opts.MaxStreams, &def.MaxStreams}, {&opts.MaxMessageBytes, &def.MaxMessageBytes},
		{&opts.MaxConcurrentStreams, &def.MaxConcurrentStreams},
	} {
		if *v.p == 0 {
			*v.p = *v.def
		}
	}
	// A batch under maxBatchBytes must get through gRPC to be checked.
	opts.MaxMessageBytes = max(opts.MaxMessageBytes, opts.MaxBatchBytes)
	for _, v := range []struct{ p, def *time.Duration }{
		{&opts.Keepalive.Time, &def.Keepalive.Time}, {&opts.Keepalive.Timeout, &def.Keepalive.Timeout},
		{&opts.Keepalive.MaxConnectionIdle, &def.Keepalive.MaxConnectionIdle},
	} {
		if *v.p == 0 {
			*v.p = *v.def
		}
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
		QueueKind:  opts.QueueType,
		BufferSize: opts.BufferSize,
		Expiry:     opts.SessionExpiry,
		Notify:     s.sched.sessionChanged,
		Drained:    s.sched.sessionDrained,
		Exhausted: func(t *session.Task) {
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
