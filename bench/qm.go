package bench

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/alpcrun/alpcrun/core/queue"
	"github.com/alpcrun/alpcrun/core/scheduler"
	"github.com/alpcrun/alpcrun/internal/servicetest"
	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/queuemanager"
)

// StartQueueManager returns a Starter for a queue manager with queue kind
// kind and scheduler policy (one of scheduler.Policies): the server on
// 127.0.0.1, one session, s.Workers workers that register on the control
// channel, wait for BIND and run Echo on their WorkerStream, and the
// client's ClientStream. Every process uses tr. With s.Shared, the session
// has shared data in an in-process central cache and each worker reads it
// per batch through its own worker SDK NodeCache over one node cache.
func StartQueueManager(kind queue.Kind, policy string, tr Transport) Starter {
	return func(ctx context.Context, tb testing.TB, s Shape) System {
		tb.Helper()
		opts := queuemanager.DefaultOptions()
		opts.QueueType, opts.Scheduler = kind, scheduler.Name(policy)
		qm, err := queuemanager.New(opts)
		if err != nil {
			tb.Fatalf("bench: queue manager: %v", err)
		}
		tb.Cleanup(qm.Close)
		srv := grpc.NewServer(tr.Server...)
		qm.Register(srv)
		return connectQueueManager(ctx, tb, servicetest.ServeServer(tb, srv), tr.Dial, s)
	}
}

// connectQueueManager sets up shape s on the queue manager serving at addr:
// one session, s.Workers workers that register on the control channel,
// wait for BIND and run Echo (or EchoShared) on their WorkerStream, and
// the client's ClientStream, every connection dialled with opts.
func connectQueueManager(ctx context.Context, tb testing.TB, addr string, opts []grpc.DialOption, s Shape) System {
	tb.Helper()
	ctx, cancel := context.WithCancel(ctx)
	tb.Cleanup(cancel)

	client := alpcrunpb.NewQueueClient(Dial(tb, addr, opts))
	maxW := uint32(s.Workers)
	sess, err := client.CreateSession(ctx, &alpcrunpb.Session{App: &alpcrunpb.App{Id: "bench"},
		Attributes: &alpcrunpb.SessionAttributes{MaxWorkers: &maxW, MinWorkers: &maxW,
			MaxInflightBatchesPerWorker: uint32(max(s.Inflight, 1))}})
	if err != nil {
		tb.Fatalf("bench: create session: %v", err)
	}
	sd := startShared(ctx, tb, s, sess.Id)
	bound := make(chan error, s.Workers)
	for range s.Workers {
		serve := serveFunc(ctx, tb, sd)
		go func() { bound <- bindWorker(ctx, tb, addr, opts, serve) }()
	}
	st, err := client.ClientStream(metadata.NewOutgoingContext(ctx, metadata.Pairs("sessionid", sess.Id)))
	if err != nil {
		tb.Fatalf("bench: client stream: %v", err)
	}
	// Workers are bound only once work is pending: send nothing yet, the
	// driver's first batches trigger the binding. Wait for the control
	// channels to be up so setup stays outside the timer.
	for range s.Workers {
		if err := <-bound; err != nil {
			tb.Fatalf("bench: worker: %v", err)
		}
	}
	return System{Stream: st, SessionID: sess.Id, Shared: sd}
}

// bindWorker registers a worker and, in the background, runs serve on the
// WorkerStream of every BIND it receives. It returns once registered.
func bindWorker(ctx context.Context, tb testing.TB, addr string, opts []grpc.DialOption, serve func(WorkerStream, string) error) error {
	client := alpcrunpb.NewQueueClient(Dial(tb, addr, opts))
	ctl, err := client.WorkerUpdate(metadata.NewOutgoingContext(ctx, metadata.Pairs("node", "bench", "pod", "bench")))
	if err != nil {
		return err
	}
	if err := ctl.Send(&alpcrunpb.WorkerState{State: alpcrunpb.WorkerState_IDLE}); err != nil {
		return err
	}
	hdr, err := ctl.Header()
	if err != nil {
		return err
	}
	id := hdr.Get("workerid")[0]
	go func() {
		for {
			in, err := ctl.Recv()
			if err != nil {
				return
			}
			if in.Type != alpcrunpb.Instruction_BIND {
				continue
			}
			md := metadata.Pairs("workerid", id, "sessionid", in.SessionId)
			st, err := client.WorkerStream(metadata.NewOutgoingContext(ctx, md))
			if err != nil {
				return
			}
			go func() { _ = serve(st, in.SessionId) }()
		}
	}()
	return nil
}
