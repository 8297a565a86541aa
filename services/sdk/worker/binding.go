package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// binding is one WorkerStream: the worker's share of a session's batches.
// Its goroutine receives batches into a list of unstarted ones; a feeder
// goroutine starts them in order, handing their tasks to the task slots as
// slots free up; the slot that completes a batch sends its result. A batch
// still in the list when the queue manager asks for it back (REVOKE, work
// stealing) is returned unstarted.
type binding struct {
	w         *Worker
	sessionID string
	// ctx is the handlers' context: it ends when the binding ends.
	ctx context.Context
	err error // why the binding ended; read after it is sent on ended
	// ready wakes the feeder when a batch joins mu.pending.
	ready chan struct{}

	mu struct {
		sync.Mutex
		// stream is set once opened; Send and CloseSend run under mu.
		stream   grpc.BidiStreamingClient[pb.Batch, pb.Batch]
		inflight int         // batches received and not yet answered
		pending  []*pb.Batch // received, not yet started
		stopping bool        // half-close once nothing is in flight
		draining bool        // and take no new batch meanwhile
		closed   bool        // half-closed
	}
}

func (w *Worker) bind(parent context.Context, api pb.QueueClient, workerID, sessionID string, jobs chan<- job, ended chan<- *binding) *binding {
	ctx, cancel := context.WithCancel(parent)
	b := &binding{w: w, sessionID: sessionID, ctx: ctx, ready: make(chan struct{}, 1)}
	go func() {
		b.err = b.run(api, workerID, jobs)
		cancel()
		ended <- b
	}()
	return b
}

// run receives batches until the stream ends; nil means it ended with OK.
func (b *binding) run(api pb.QueueClient, workerID string, jobs chan<- job) error {
	md := metadata.AppendToOutgoingContext(b.ctx, "workerid", workerID, "sessionid", b.sessionID,
		"revoke", "1", "slots", strconv.Itoa(b.w.cfg.concurrency))
	stream, err := api.WorkerStream(md)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.mu.stream = stream
	b.closeIfDoneLocked() // stop may have come first
	b.mu.Unlock()
	fed := make(chan error, 1)
	go func() { fed <- b.feed(jobs) }()
	for {
		tb, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if tb.Revoke == pb.Batch_REVOKE {
			b.giveBack(tb.Id)
			continue
		}
		if !b.accept(tb) {
			continue // unanswered: requeued when the stream ends
		}
		select {
		case b.ready <- struct{}{}:
		default:
		}
		select {
		case err := <-fed:
			return err
		default:
		}
	}
}

// feed starts the received batches in order until the binding ends.
func (b *binding) feed(jobs chan<- job) error {
	for {
		b.mu.Lock()
		var tb *pb.Batch
		if len(b.mu.pending) > 0 {
			tb = b.mu.pending[0]
			b.mu.pending[0] = nil
			b.mu.pending = b.mu.pending[1:]
		}
		b.mu.Unlock()
		if tb == nil {
			select {
			case <-b.ready:
				continue
			case <-b.ctx.Done():
				return b.ctx.Err()
			}
		}
		if err := b.w.dispatch(b, tb, jobs); err != nil {
			return err
		}
	}
}

// giveBack answers a revoke request for batch id: RETURNED when it has not
// started (it is dropped here and requeued there), else STARTED.
func (b *binding) giveBack(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	answer := pb.Batch_STARTED
	for i, tb := range b.mu.pending {
		if tb.Id == id {
			b.mu.pending = append(b.mu.pending[:i], b.mu.pending[i+1:]...)
			b.mu.inflight--
			answer = pb.Batch_RETURNED
			break
		}
	}
	if !b.mu.closed {
		_ = b.mu.stream.Send(&pb.Batch{Id: id, Revoke: answer}) // a broken stream shows on Recv
	}
	b.closeIfDoneLocked()
}

// stop asks the binding to half-close once its batches are answered; with
// drain it also takes no new batch.
func (b *binding) stop(drain bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.stopping = true
	b.mu.draining = b.mu.draining || drain
	b.closeIfDoneLocked()
}

func (b *binding) accept(tb *pb.Batch) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.draining || b.mu.closed {
		return false
	}
	b.mu.inflight++
	b.mu.pending = append(b.mu.pending, tb)
	return true
}

// finish sends the answer to an accepted batch: tb with its messages turned
// into results.
func (b *binding) finish(tb *pb.Batch) {
	tb.Priority, tb.UseSharedData, tb.RequiredSharedDataUpdateLevel = 0, nil, nil
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.mu.closed {
		_ = b.mu.stream.Send(tb) // a broken stream shows on Recv
	}
	b.mu.inflight--
	b.closeIfDoneLocked()
}

func (b *binding) closeIfDoneLocked() {
	if b.mu.stopping && b.mu.inflight == 0 && !b.mu.closed && b.mu.stream != nil {
		_ = b.mu.stream.CloseSend()
		b.mu.closed = true
	}
}

// batchRun is a batch being worked on.
type batchRun struct {
	b         *binding
	batch     *pb.Batch
	shared    any
	remaining atomic.Int32 // task jobs not yet done
}

// job is a slot's unit of work: task i of a batch, or the whole batch (i<0).
type job struct {
	r *batchRun
	i int
}

// dispatch queues tb's jobs, blocking while every slot is busy.
func (w *Worker) dispatch(b *binding, tb *pb.Batch, jobs chan<- job) error {
	r := &batchRun{b: b, batch: tb}
	if tb.GetUseSharedData() {
		var err error
		if r.shared, err = w.sharedData(b.ctx, b.sessionID, tb.GetRequiredSharedDataUpdateLevel()); err != nil {
			for _, m := range tb.Messages {
				setResult(m, nil, err)
			}
			b.finish(tb)
			return nil
		}
	}
	if w.batch != nil || len(tb.Messages) == 0 {
		return r.queue(jobs, -1)
	}
	r.remaining.Store(int32(len(tb.Messages)))
	for i := range tb.Messages {
		if err := r.queue(jobs, i); err != nil {
			return err
		}
	}
	return nil
}

func (r *batchRun) queue(jobs chan<- job, i int) error {
	select {
	case jobs <- job{r: r, i: i}:
		return nil
	case <-r.b.ctx.Done():
		return r.b.ctx.Err()
	}
}

func (w *Worker) sharedData(ctx context.Context, sessionID string, level uint32) (any, error) {
	if w.cfg.shared == nil {
		return nil, fmt.Errorf("worker: the batch needs shared data level %d but the worker has no SharedDataSource", level)
	}
	deadline := time.Now().Add(w.cfg.sharedWait)
	backoff := 10 * time.Millisecond
	for {
		v, err := w.cfg.shared.Get(ctx, sessionID, level)
		if err == nil {
			return v, nil
		}
		// Missing data may be on its way back (a restarted cache refilled
		// by its owner), an unreachable cache may come back: retry both
		// until the deadline rather than fail every task at once.
		switch status.Code(err) {
		case codes.NotFound, codes.Unavailable:
			if time.Now().Add(backoff).Before(deadline) {
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
					backoff = min(2*backoff, time.Second)
					continue
				case <-ctx.Done():
					t.Stop()
				}
			}
		}
		return nil, fmt.Errorf("worker: shared data level %d: %w", level, err)
	}
}

// do runs a job on a slot; the job that completes its batch answers it.
func (w *Worker) do(j job) {
	r := j.r
	if j.i < 0 {
		w.doBatch(r)
		r.b.finish(r.batch)
		return
	}
	m := r.batch.Messages[j.i]
	out, err := w.call(r, m)
	setResult(m, out, err)
	if r.remaining.Add(-1) == 0 {
		r.b.finish(r.batch)
	}
}

func (r *batchRun) task(m *pb.Message) Task {
	return Task{SessionID: r.b.sessionID, BatchID: r.batch.Id, ID: m.Id, Payload: m.Payload, Attempts: m.Attempts, SharedData: r.shared}
}

func (w *Worker) call(r *batchRun, m *pb.Message) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("worker: handler panicked: %v", p)
		}
	}()
	return w.task(r.b.ctx, r.task(m))
}

func (w *Worker) doBatch(r *batchRun) {
	msgs := r.batch.Messages
	tasks := make([]Task, len(msgs))
	for i, m := range msgs {
		tasks[i] = r.task(m)
	}
	results := make([]Result, len(msgs))
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("worker: handler panicked: %v", p)
			}
		}()
		return w.batch(r.b.ctx, tasks, results)
	}()
	for i, m := range msgs {
		res := results[i]
		if res.Err == nil && err != nil {
			res.Err = err
		}
		setResult(m, res.Payload, res.Err)
	}
}

// setResult turns a task message into its result message, in place: same
// id and attempts, the result as payload, or the error without payload.
func setResult(m *pb.Message, out []byte, err error) {
	if err == nil {
		m.Payload, m.Error = out, ""
		return
	}
	m.Payload, m.Error = nil, err.Error()
	if m.Error == "" {
		m.Error = "worker: task failed" // an empty error would read as success
	}
}
