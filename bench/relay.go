package bench

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	alpcrunpb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// Relay is the raw gRPC baseline: it serves Queue.ClientStream and
// Queue.WorkerStream with the queue manager's messages and hops, but hands
// each task batch straight to the next worker stream (round robin) from the
// goroutine that received it, and each result batch straight back to the
// client stream. No session, no queue, no scheduling, no redelivery: what is
// left is what gRPC and protobuf cost on this machine. It serves one client
// stream at a time; a second one fails with FailedPrecondition.
type Relay struct {
	// Only the two streams are served; the other RPCs answer
	// Unimplemented, which is what a baseline should do with them.
	alpcrunpb.UnimplementedQueueServer

	// client is read for every result batch, so it is not under mu.
	client atomic.Pointer[sender]
	mu     struct {
		sync.Mutex
		workers []*sender
		next    int
		changed chan struct{} // closed and replaced when workers change
	}
}

// NewRelay returns a relay with no streams attached.
func NewRelay() *Relay {
	r := &Relay{}
	r.mu.changed = make(chan struct{})
	return r
}

// sender serialises Sends on one server stream: gRPC allows one sending
// goroutine per stream at a time.
type sender struct {
	mu sync.Mutex
	st grpc.ServerStream
}

// send forwards b. SendMsg marshals b before returning, so the caller may
// reuse b afterwards (no stats handler or binary log keeps it).
func (s *sender) send(b *alpcrunpb.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.SendMsg(b)
}

// WaitWorkers blocks until at least n worker streams are attached or ctx
// ends.
func (r *Relay) WaitWorkers(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		have, changed := len(r.mu.workers), r.mu.changed
		r.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ClientStream forwards every task batch to one worker stream and returns
// when the client ends its side or the stream breaks.
func (r *Relay) ClientStream(st grpc.BidiStreamingServer[alpcrunpb.Batch, alpcrunpb.Batch]) error {
	c := &sender{st: st}
	if !r.client.CompareAndSwap(nil, c) {
		return status.Error(codes.FailedPrecondition, "bench: relay serves one client stream at a time")
	}
	defer r.client.Store(nil)

	b := new(alpcrunpb.Batch)
	for {
		if err := st.RecvMsg(b); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		w := r.nextWorker()
		if w == nil {
			return status.Error(codes.Unavailable, "bench: relay has no worker")
		}
		if err := w.send(b); err != nil {
			return status.Errorf(codes.Unavailable, "bench: relay to worker: %v", err)
		}
	}
}

func (r *Relay) nextWorker() *sender {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.mu.workers) == 0 {
		return nil
	}
	r.mu.next = (r.mu.next + 1) % len(r.mu.workers)
	return r.mu.workers[r.mu.next]
}

// WorkerStream attaches a worker: it receives task batches from
// ClientStream, and its result batches go to the attached client stream
// (dropped when there is none).
func (r *Relay) WorkerStream(st grpc.BidiStreamingServer[alpcrunpb.Batch, alpcrunpb.Batch]) error {
	w := &sender{st: st}
	r.setWorkers(func(ws []*sender) []*sender { return append(ws, w) })
	defer r.setWorkers(func(ws []*sender) []*sender {
		for i, x := range ws {
			if x == w {
				return append(ws[:i:i], ws[i+1:]...)
			}
		}
		return ws
	})

	b := new(alpcrunpb.Batch)
	for {
		if err := st.RecvMsg(b); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		c := r.client.Load()
		if c == nil {
			continue
		}
		// A failed send means the client stream is ending; its handler
		// reports that, the worker carries on.
		_ = c.send(b)
	}
}

func (r *Relay) setWorkers(f func([]*sender) []*sender) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.workers = f(r.mu.workers)
	close(r.mu.changed)
	r.mu.changed = make(chan struct{})
}

// Echo is the benchmark worker, shared by every system so that only the
// middle differs: it answers each task batch on st with a result batch of
// the same id holding each task's id and payload (the received batch
// itself, sent back), until st ends. It returns nil when the server ends
// the stream normally.
func Echo(st WorkerStream) error { return echo(st, nil) }

// WorkerStream is the worker side of Queue.WorkerStream.
type WorkerStream = grpc.BidiStreamingClient[alpcrunpb.Batch, alpcrunpb.Batch]

// echo is Echo that calls before, when not nil, on each batch before
// sending it back.
func echo(st WorkerStream, before func(*alpcrunpb.Batch)) error {
	b := new(alpcrunpb.Batch)
	for {
		if err := st.RecvMsg(b); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if before != nil {
			before(b)
		}
		if err := st.Send(b); err != nil {
			return err
		}
	}
}
