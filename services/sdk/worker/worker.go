// Package worker is the Go SDK for ALPCRUN.CH workers: it registers with
// the queue manager, heartbeats, follows BIND/UNBIND, runs the caller's
// handler on each task with bounded concurrency and returns the results.
//
//	err := worker.Run(ctx, "localhost:1337",
//		func(ctx context.Context, t worker.Task) ([]byte, error) {
//			return price(t.Payload)
//		}, worker.WithConcurrency(8))
//
// Lifecycle. Run opens the control channel (WorkerUpdate, metadata "node"
// and "pod"), learns the worker id from response header "workerid" and
// reports IDLE, then a heartbeat every WithHeartbeat interval and on every
// state change. On BIND it opens a WorkerStream for the session and reports
// BOUND; each task batch it receives is answered with one result batch
// carrying the same batch id and one message per task (same id; on failure
// error set and no payload). Batches wait in the order they came until a
// task slot frees up; one the queue manager asks back (REVOKE, work
// stealing: another worker of the session has nothing to do) is returned
// if it has not started (RETURNED), else answered STARTED; the worker
// announces this with WorkerStream metadata "revoke" = "1", and its task
// slots (WithConcurrency) with "slots", so that the queue manager splits
// batches into pieces that fill them. On UNBIND it
// finishes the batches it holds,
// sends their results, half-closes and reports IDLE once the stream ended.
// If the stream breaks, the queue manager requeues what was unanswered; the
// worker goes back to IDLE and waits for the next BIND. If the control
// channel breaks, the worker re-registers with backoff, under a new id.
//
// Shutdown. When ctx ends, Run reports DRAINING, stops taking batches,
// finishes the ones it holds and sends their results, closes its streams
// and returns nil. Handlers keep running to completion: their context is
// not cancelled by the drain, only when the stream they answer breaks.
// Batches that reach the worker after the drain began are left unanswered
// and requeued by the queue manager (which counts that delivery as an
// attempt).
//
// Shared data. A batch that sets use_shared_data is handed to the
// handlers with Task.SharedData from the SharedDataSource (WithSharedData),
// normally a NodeCache, which fetches each (session, level) once from the
// node cache and keeps it decoded.
//
// Failures. A handler's error becomes the task's Message.error, and a panic
// in a handler is recovered into one; such tasks are dead-lettered by the
// queue manager. Run returns an error only for problems that retrying will
// not fix: a rejected API key or a server without the Queue service.
package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/sdk"
)

// Task is one task handed to a handler.
type Task struct {
	SessionID string
	// BatchID is the queue manager's id of the batch the task came in.
	BatchID string
	ID      string
	// Payload belongs to the handler until it returns.
	Payload []byte
	// Attempts counts deliveries so far, this one included.
	Attempts uint32
	// SharedData is the session's shared data at the level the batch
	// requires, from the SharedDataSource; nil when the batch uses none.
	SharedData any
}

// Handler runs one task. It may run concurrently with itself (see
// WithConcurrency). A returned error fails the task.
type Handler func(ctx context.Context, t Task) ([]byte, error)

// Result is a task's outcome in a BatchHandler's answer.
type Result struct {
	Payload []byte
	Err     error
}

// BatchHandler runs a whole batch: it sets results[i] for tasks[i]
// (len(results) == len(tasks)). A returned error fails every task whose
// Err is nil.
type BatchHandler func(ctx context.Context, tasks []Task, results []Result) error

// SharedDataSource supplies a session's shared data. Get returns the data of
// sessionID at exactly update level; it is called once per batch that uses
// shared data, from the goroutine receiving the batches, so it should cache.
// An error fails the batch's tasks.
type SharedDataSource interface {
	Get(ctx context.Context, sessionID string, level uint32) (any, error)
}

// State is a state the worker reports.
type State = pb.WorkerState_State

// The states of the protocol.
const (
	StateIdle     = pb.WorkerState_IDLE
	StateBound    = pb.WorkerState_BOUND
	StateDraining = pb.WorkerState_DRAINING
)

// Event is a state change as reported to the queue manager.
type Event struct {
	WorkerID  string
	State     State
	SessionID string
}

// Worker is a configured worker; Run runs it.
type Worker struct {
	addr  string
	cfg   config
	task  Handler
	batch BatchHandler
}

// New returns a worker that runs h on each task, for the queue manager at
// addr (empty: as sdk.QueueManagerAddr resolves it).
func New(addr string, h Handler, opts ...Option) (*Worker, error) {
	if h == nil {
		return nil, errors.New("worker: nil handler")
	}
	return newWorker(addr, h, nil, opts)
}

// NewBatch returns a worker that runs h on each batch, one batch per slot.
func NewBatch(addr string, h BatchHandler, opts ...Option) (*Worker, error) {
	if h == nil {
		return nil, errors.New("worker: nil handler")
	}
	return newWorker(addr, nil, h, opts)
}

func newWorker(addr string, h Handler, bh BatchHandler, opts []Option) (*Worker, error) {
	w := &Worker{addr: sdk.QueueManagerAddr(addr), cfg: defaultConfig(), task: h, batch: bh}
	for _, o := range opts {
		o(&w.cfg)
	}
	if w.cfg.err != nil {
		return nil, w.cfg.err
	}
	return w, nil
}

// Run is New followed by Worker.Run.
func Run(ctx context.Context, addr string, h Handler, opts ...Option) error {
	w, err := New(addr, h, opts...)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// Reconnect backoff bounds of the control channel.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Run serves until ctx ends, then drains and returns nil; see the package
// doc.
func (w *Worker) Run(ctx context.Context) error {
	conn, err := grpc.NewClient(w.addr, w.cfg.dialOptions()...)
	if err != nil {
		return fmt.Errorf("worker: dial %s: %w", w.addr, err)
	}
	defer conn.Close()
	api := pb.NewQueueClient(conn)

	jobs := make(chan job)
	var slots sync.WaitGroup
	for range w.cfg.concurrency {
		slots.Go(func() {
			for j := range jobs {
				w.do(j)
			}
		})
	}
	defer func() {
		close(jobs)
		slots.Wait()
	}()

	backoff := minBackoff
	for {
		registered, err := w.control(ctx, api, jobs)
		if ctx.Err() != nil {
			return nil
		}
		switch status.Code(err) {
		case codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented:
			return fmt.Errorf("worker: %w", err)
		}
		if registered {
			backoff = minBackoff
		}
		w.cfg.log.Warn("worker: control channel broke, reconnecting", "err", err, "backoff", backoff)
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
