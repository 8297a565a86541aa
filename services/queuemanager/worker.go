package queuemanager

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
	"google.golang.org/grpc/metadata"

	"github.com/alpcrun/alpcrun/core/session"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/internal/auth"
)

// worker is a registered worker: one WorkerUpdate stream.
type worker struct {
	id, node, pod string
	// instr carries BIND/UNBIND to the control stream's sender. Buffered so
	// the scheduler never waits on a worker; a worker that lets it fill up
	// is dropped.
	instr chan *pb.Instruction
	gone  chan struct{}
	once  sync.Once
	done  atomic.Int64 // tasks answered, for the admin API

	mu struct {
		sync.Mutex
		lastSeen time.Time
		state    pb.WorkerState_State
		// binding is the session the scheduler bound this worker to; its
		// cancel stops the WorkerStream's sender (UNBIND or worker gone).
		binding string
		unbind  context.CancelFunc
		bindCtx context.Context
		open    int // WorkerStreams being served
		// streaming: sessions with a WorkerStream of this worker open.
		streaming map[string]bool
	}
}

func (w *worker) markGone() { w.once.Do(func() { close(w.gone) }) }

// bind records the scheduler's binding of w to a session.
func (w *worker) bind(sessionID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.unbind != nil {
		w.mu.unbind()
	}
	w.mu.binding = sessionID
	w.mu.bindCtx, w.mu.unbind = context.WithCancel(context.Background())
}

func (w *worker) unbindFrom(sessionID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.binding == sessionID && w.mu.unbind != nil {
		w.mu.unbind()
		w.mu.binding, w.mu.unbind = "", nil
	}
}

// bound returns the context of the worker's binding to sessionID.
func (w *worker) bound(sessionID string) (context.Context, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.binding != sessionID || w.mu.bindCtx == nil {
		return nil, false
	}
	return w.mu.bindCtx, true
}

func (w *worker) streams() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.open
}

func (w *worker) send(in *pb.Instruction) bool {
	select {
	case w.instr <- in:
		return true
	default:
		w.markGone()
		return false
	}
}

type workerRegistry struct {
	mu      sync.RWMutex
	workers map[string]*worker
}

func newWorkerRegistry() *workerRegistry {
	return &workerRegistry{workers: make(map[string]*worker)}
}

func (r *workerRegistry) get(id string) (*worker, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	w, ok := r.workers[id]
	return w, ok
}

func (r *workerRegistry) add(w *worker) {
	r.mu.Lock()
	r.workers[w.id] = w
	r.mu.Unlock()
}

func (r *workerRegistry) remove(w *worker) {
	r.mu.Lock()
	delete(r.workers, w.id)
	r.mu.Unlock()
}

func (r *workerRegistry) all() []*worker {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*worker, 0, len(r.workers))
	for _, w := range r.workers {
		out = append(out, w)
	}
	return out
}

// WorkerUpdate is a worker's control channel: heartbeats in, BIND/UNBIND
// out. The worker's id is sent in response header "workerid". When the
// channel breaks or heartbeats stop for workerTimeout, the worker is gone:
// its WorkerStreams end and their in-flight batches are requeued.
func (s *Server) WorkerUpdate(stream grpc.BidiStreamingServer[pb.WorkerState, pb.Instruction]) error {
	ctx := stream.Context()
	if err := auth.Require(ctx, auth.RoleWorker); err != nil {
		return err
	}
	w := &worker{
		id:    session.NewID(),
		node:  mdValue(ctx, "node"),
		pod:   mdValue(ctx, "pod"),
		instr: make(chan *pb.Instruction, 64),
		gone:  make(chan struct{}),
	}
	w.mu.lastSeen = s.now()
	w.mu.state = pb.WorkerState_IDLE
	if err := stream.SendHeader(metadata.Pairs("workerid", w.id)); err != nil {
		return err
	}
	s.workers.add(w)
	s.log.Info("worker registered", "worker", w.id, "node", w.node, "pod", w.pod)
	s.sched.workerChanged(w)
	defer func() {
		w.markGone()
		w.mu.Lock()
		if w.mu.unbind != nil {
			w.mu.unbind()
		}
		w.mu.Unlock()
		s.workers.remove(w)
		s.sched.workerChanged(w)
		s.log.Info("worker gone", "worker", w.id, "node", w.node, "pod", w.pod)
	}()

	recvErr := make(chan error, 1)
	go func() {
		for {
			st, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			w.mu.Lock()
			w.mu.lastSeen = s.now()
			changed := w.mu.state != st.State
			w.mu.state = st.State
			w.mu.Unlock()
			if changed {
				s.sched.workerChanged(w)
			}
		}
	}()
	for {
		select {
		case in := <-w.instr:
			if err := stream.Send(in); err != nil {
				return err
			}
		case <-w.gone:
			return nil
		case err := <-recvErr:
			return toStatus(ignoreEOF(err))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WorkerStream carries a bound worker's batches: tasks out, at most the
// session's max_inflight_batches_per_worker unanswered, and results in.
// After UNBIND no new task is sent; the stream ends once the in-flight
// batches are answered. Whatever is unanswered when it ends is requeued.
func (s *Server) WorkerStream(stream grpc.BidiStreamingServer[pb.Batch, pb.Batch]) error {
	ctx := stream.Context()
	if err := auth.Require(ctx, auth.RoleWorker); err != nil {
		return err
	}
	wid, sid := mdValue(ctx, "workerid"), mdValue(ctx, "sessionid")
	if wid == "" || sid == "" {
		return toStatus(fmt.Errorf("%w: WorkerStream needs metadata workerid and sessionid", errInvalidMetadata))
	}
	w, ok := s.workers.get(wid)
	if !ok {
		return toStatus(fmt.Errorf("%w: %q", errUnknownWorker, wid))
	}
	sess, err := s.sessions.Get(sid)
	if err != nil {
		return toStatus(err)
	}
	bindCtx, ok := w.bound(sid)
	if !ok {
		return toStatus(fmt.Errorf("%w: worker %q, session %q", errNotBound, wid, sid))
	}
	// A worker that opens the stream with metadata "revoke" = "1" takes
	// revoke requests (work stealing, core/session/dispatch.go). They are
	// sent by a goroutine of this stream's own, under the sender's lock.
	var sendMu sync.Mutex
	var revokes chan string
	var revoke func(string)
	if mdValue(ctx, "revoke") == "1" {
		revokes = make(chan string, sess.Attributes().MaxInflight)
		revoke = func(id string) {
			select {
			case revokes <- id: // one per batch in flight: room for all
			default: // the steal lapses; the batch stays where it is
			}
		}
	}
	// One stream per worker and session: each would get its own in-flight
	// credit, so a worker could hold a session's batches many times over.
	w.mu.Lock()
	if w.mu.streaming[sid] {
		w.mu.Unlock()
		return toStatus(fmt.Errorf("%w: worker %q, session %q", errStreamOpen, wid, sid))
	}
	if w.mu.streaming == nil {
		w.mu.streaming = make(map[string]bool)
	}
	w.mu.streaming[sid] = true
	w.mu.open++
	w.mu.Unlock()
	closeStream := func() {
		w.mu.Lock()
		w.mu.open--
		delete(w.mu.streaming, sid)
		w.mu.Unlock()
	}
	// Metadata "slots": the tasks the worker runs at once, for dispatch.
	slots, _ := strconv.Atoi(mdValue(ctx, "slots"))
	lease, err := sess.Lease(wid, session.LeaseOptions{Slots: min(max(slots, 1), maxSlots), Revoke: revoke})
	if err != nil {
		closeStream()
		return toStatus(err)
	}
	defer func() {
		lease.Release()
		closeStream()
		s.sched.streamEnded(w, sid)
	}()

	sendCtx, stopSend := context.WithCancel(ctx)
	defer stopSend()
	go func() { // UNBIND stops the sender; in-flight batches still count
		select {
		case <-bindCtx.Done():
		case <-sendCtx.Done():
		}
		stopSend()
	}()
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		s.sendTasks(sendCtx, stream, &sendMu, lease)
	}()
	revokeCtx, stopRevokes := context.WithCancel(ctx)
	revokeDone := make(chan struct{})
	go func() {
		defer close(revokeDone)
		sendRevokes(revokeCtx, stream, &sendMu, revokes)
	}()

	recvDone := make(chan error, 1)
	go func() { recvDone <- s.receiveResults(stream, sess, lease, sendDone) }()
	stopped := sendDone
	for {
		select {
		case err = <-recvDone:
		case <-w.gone:
			err = nil
		case <-ctx.Done():
			err = ctx.Err()
		case <-stopped:
			stopped = nil
			if lease.Inflight() > 0 {
				continue // the receiver ends the stream after the last answer
			}
		}
		break
	}
	stopSend()
	<-sendDone
	stopRevokes()
	<-revokeDone // no Send after the handler returns
	return toStatus(ignoreEOF(err))
}

// maxSlots bounds the task slots a worker may claim: a worker cannot make
// dispatch hand it a larger share than that.
const maxSlots = 1024

// sendRevokes sends the lease's revoke requests until ctx ends; a nil
// channel (a worker without revoke) blocks until then.
func sendRevokes(ctx context.Context, stream grpc.BidiStreamingServer[pb.Batch, pb.Batch], mu *sync.Mutex, ids <-chan string) {
	for {
		select {
		case id := <-ids:
			mu.Lock()
			err := stream.Send(&pb.Batch{Id: id, Revoke: pb.Batch_REVOKE})
			mu.Unlock()
			if err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (s *Server) sendTasks(ctx context.Context, stream grpc.BidiStreamingServer[pb.Batch, pb.Batch], mu *sync.Mutex, lease *session.Lease) {
	for {
		t, err := lease.Take(ctx)
		if err != nil {
			return
		}
		b := t.Payload.(*pb.Batch)
		injectTaskCPU(len(b.Messages))
		b.Id = t.ID
		// t is not ours once Sent: a steal may requeue it.
		redelivered, n := t.Attempts > 1, len(b.Messages)
		for _, m := range b.Messages {
			m.Attempts = t.Attempts
		}
		mu.Lock()
		err = stream.Send(b)
		mu.Unlock()
		if err != nil {
			lease.Unsent(t.ID)
			return
		}
		lease.Sent(t.ID, s.now())
		if redelivered {
			s.metrics.redelivered.Add(float64(n))
		}
	}
}

// receiveResults reads result batches until the worker closes the stream,
// or, once the sender has stopped (UNBIND), until nothing is in flight.
func (s *Server) receiveResults(stream grpc.BidiStreamingServer[pb.Batch, pb.Batch], sess *session.Session, lease *session.Lease, sendDone <-chan struct{}) error {
	for {
		r, err := stream.Recv()
		if err != nil {
			return err
		}
		switch r.Revoke {
		case pb.Batch_RETURNED:
			if lease.Returned(r.Id) {
				s.metrics.returned.Inc()
			}
		case pb.Batch_STARTED:
			lease.Started(r.Id)
		default:
			s.complete(sess, lease, r)
		}
		select {
		case <-sendDone:
			if lease.Inflight() == 0 {
				return nil
			}
		default:
		}
	}
}

// complete takes a worker's answer to a batch: results to the client,
// messages with an error (and tasks the worker left unanswered) to the dead
// letters. An answer for a batch the lease does not hold is dropped.
func (s *Server) complete(sess *session.Session, lease *session.Lease, r *pb.Batch) {
	t, ok := lease.Complete(r.Id)
	if !ok {
		s.metrics.late.Inc()
		return
	}
	task := t.Payload.(*pb.Batch)
	good, failed := splitResults(task, r)
	// Once taken from the lease the answer must be queued; only a closed
	// session refuses it. It does not wait for a client that is not
	// reading: the scheduler takes that session's workers instead.
	// The task's bytes stay in the session's budget until its answer was
	// sent (core/session, budget.go): with the results when there are any.
	if len(failed) > 0 {
		dead := &pb.Batch{Id: r.Id, SessionId: sess.ID, Priority: task.Priority, Messages: failed}
		d := &session.Batch{ID: t.ID, Payload: dead}
		if len(good) == 0 {
			d.Bytes = t.Bytes
		}
		if sess.OfferDead(d) != nil {
			return
		}
		s.metrics.failed.Add(float64(len(failed)))
		sess.Counts().Dead.Add(int64(len(failed)))
	}
	if w, ok := s.workers.get(lease.Worker); ok {
		w.done.Add(int64(len(good) + len(failed)))
	}
	if len(good) == 0 {
		sess.Finish()
		return
	}
	// The client stream calls Finish once it has sent the results. They
	// travel in t, which the lease no longer holds, with t's bytes.
	r.Messages = good
	r.SessionId = sess.ID
	t.Payload = r
	if sess.OfferResult(context.Background(), t) != nil {
		return
	}
	s.metrics.done.Add(float64(len(good)))
	sess.Counts().Done.Add(int64(len(good)))
	s.metrics.observeLatency(s.now().Sub(t.Enqueued), len(good))
}

// splitResults pairs a worker's result messages with the batch's tasks.
// The common case, one result per task in order with no error, allocates
// nothing. Results for unknown or repeated ids are dropped; tasks without
// a result are dead-lettered with errNoResult.
func splitResults(task, r *pb.Batch) (ok, failed []*pb.Message) {
	if len(r.Messages) == len(task.Messages) {
		aligned := true
		for i, m := range r.Messages {
			if m == nil || m.Id != task.Messages[i].Id || m.Error != "" {
				aligned = false
				break
			}
		}
		if aligned {
			return r.Messages, nil
		}
	}
	want := make(map[string]*pb.Message, len(task.Messages))
	for _, m := range task.Messages {
		want[m.Id] = m
	}
	ok = make([]*pb.Message, 0, len(r.Messages))
	for _, m := range r.Messages {
		if m == nil {
			continue
		}
		if _, pending := want[m.Id]; !pending {
			continue
		}
		delete(want, m.Id)
		m.Attempts = task.Messages[0].Attempts
		if m.Error != "" {
			failed = append(failed, m)
		} else {
			ok = append(ok, m)
		}
	}
	for _, m := range task.Messages { // in task order
		if _, missing := want[m.Id]; missing {
			failed = append(failed, &pb.Message{Id: m.Id, Payload: m.Payload, Error: errNoResult, Attempts: m.Attempts})
		}
	}
	return ok, failed
}

// splitBatch cuts a task batch after its first n messages (the session's
// Split, core/session/dispatch.go): two batches with the same session,
// priority and shared-data level.
func splitBatch(payload any, n int) (head, tail any) {
	b := payload.(*pb.Batch)
	cut := func(msgs []*pb.Message) *pb.Batch {
		return &pb.Batch{SessionId: b.SessionId, Priority: b.Priority, Messages: msgs,
			UseSharedData: b.UseSharedData, RequiredSharedDataUpdateLevel: b.RequiredSharedDataUpdateLevel}
	}
	return cut(b.Messages[:n:n]), cut(b.Messages[n:])
}

// errNoResult is the dead-letter error of a task its worker did not answer.
const errNoResult = "no result from worker"

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (w *worker) stateLabel() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.mu.state == pb.WorkerState_DRAINING:
		return "draining"
	case w.mu.binding != "":
		return "bound"
	default:
		return "idle"
	}
}
