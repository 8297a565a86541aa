// Package session holds the queue manager's sessions: their attributes,
// their task, result and dead-letter queues, and the batches in flight at
// each worker, with redelivery and dead-lettering. It knows nothing of gRPC:
// batches are opaque payloads that the service converts.
package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alpcrun/alpcrun/core/queue"
)

// Sentinel errors; the queue manager maps each to a gRPC code in one table.
var (
	ErrNotFound = errors.New("session: not found")
	ErrExists   = errors.New("session: already exists")
	ErrInvalid  = errors.New("session: invalid attributes")
	ErrClosed   = errors.New("session: closed")
)

// Defaults of docs/design.md, Sessions.
const (
	DefaultIdleTimeout = 60 * time.Second
	DefaultMaxInflight = 10
	DefaultMaxAttempts = 3
	MaxPriority        = 10
	// ReasonExhausted is the error of a task delivered MaxAttempts times
	// without a result.
	ReasonExhausted = "attempts exhausted"
)

// Attributes are a session's settings (the proto's SessionAttributes).
type Attributes struct {
	Priority            uint32
	ClientID            string
	MinWorkers          *uint32 // nil: unset
	MaxWorkers          *uint32 // nil: unlimited
	IdleTimeout         time.Duration
	Preemptible         bool
	CleanupOnClientExit bool
	MaxInflight         uint32
	Tags                []string
	MaxAttempts         uint32
	TaskTimeout         time.Duration // 0: no limit
}

// Validate checks the rules of docs/design.md, Sessions, naming every problem.
func (a *Attributes) Validate() error {
	var errs []error
	if a.Priority > MaxPriority {
		errs = append(errs, fmt.Errorf("%w: priority %d above %d", ErrInvalid, a.Priority, MaxPriority))
	}
	if a.MinWorkers != nil && a.MaxWorkers != nil && *a.MaxWorkers < *a.MinWorkers {
		errs = append(errs, fmt.Errorf("%w: max_workers %d below min_workers %d", ErrInvalid, *a.MaxWorkers, *a.MinWorkers))
	}
	if a.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: negative idle_timeout", ErrInvalid))
	}
	if a.TaskTimeout < 0 {
		errs = append(errs, fmt.Errorf("%w: negative task_timeout", ErrInvalid))
	}
	return errors.Join(errs...)
}

func (a *Attributes) fillDefaults() {
	if a.IdleTimeout == 0 {
		a.IdleTimeout = DefaultIdleTimeout
	}
	if a.MaxInflight == 0 {
		a.MaxInflight = DefaultMaxInflight
	}
	if a.MaxAttempts == 0 {
		a.MaxAttempts = DefaultMaxAttempts
	}
}

// Batch is one task batch as the session keeps it: a client batch, or a
// piece split off one at dispatch.
type Batch struct {
	// ID is the batch id, unique in its session, assigned at Enqueue.
	ID       string
	Priority uint32
	// Payload is the service's batch; the session reads it only through
	// Config.Split.
	Payload any
	// N is the number of tasks in the batch.
	N int
	// Bytes is the batch's size, for the byte budgets (Config).
	Bytes int64
	// Attempts counts deliveries to workers so far.
	Attempts uint32
	// Enqueued is when the client's batch was accepted.
	Enqueued time.Time
	seq      uint64 // enqueue order, kept by redeliveries
	// Err is set on a dead-lettered task that failed for a reason of the
	// queue manager's own (ReasonExhausted); empty when a worker reported it.
	Err string
}

// redeliverMark is pushed into the task queue to wake a consumer blocked in
// Pop when a task lands in the redelivery list; consumers skip it.
var redeliverMark = &Batch{}

// Session is one open session. Its methods are safe for concurrent use.
type Session struct {
	ID    string
	AppID string

	tasks   queue.Queue // *Batch
	results queue.Queue // service result batches
	dead    queue.Queue // *Batch

	batchSeq     atomic.Uint64
	outstanding  atomic.Int64 // accepted tasks without a final outcome
	marks        atomic.Int64 // redeliverMarks in the task queue
	pushing      atomic.Int64 // Enqueue calls waiting for room
	idle         atomic.Bool  // no client activity for idle_timeout
	lastActivity atomic.Int64 // unix nanos of the last client batch or attach
	notify       func(*Session)
	drained      func(*Session)
	exhausted    func(*Batch)
	split        func(payload any, n int) (head, tail any)
	held         heldIDs
	stats        stats // stats.go

	// Dispatch state (dispatch.go).
	queuedTasks   atomic.Int64 // tasks queued, pushing or in the redelivery list
	heldBytes     atomic.Int64 // bytes of tasks not yet answered to the client (budget.go)
	budget        *budget      // the registry's byte budgets
	inflightTasks atomic.Int64 // tasks in batches at workers, unanswered
	hungry        atomic.Int64 // leases waiting with nothing in flight
	bound         atomic.Int64 // workers the scheduler bound to the session
	slots         atomic.Int64 // task slots of the leases' workers
	taskNs        atomic.Int64 // a worker's time per task, moving average; 0: unknown
	reported      atomic.Int64 // waiting tasks at the last Work call

	// overflow holds result batches offered while the result queue was
	// full, in order; overflowing mirrors its length for the lock-free
	// fast path.
	overflow struct {
		sync.Mutex
		items []queue.Item
	}
	overflowing atomic.Int64
	backedUp    atomic.Bool // see ResultsFull
	// deadOver holds dead letters offered while the dead-letter queue was
	// full, in order (OfferDead).
	deadOver struct {
		sync.Mutex
		items []*Batch
	}

	mu struct {
		sync.Mutex
		attrs     Attributes
		clients   int
		closed    bool
		redeliver []*Batch // served before the task queue, oldest first
		leases    map[*Lease]struct{}
		// fed fires when no lease is hungry any more (waitFed).
		fed signal
		// stealing counts revoke requests under way.
		stealing int
		// answered fires when no task is outstanding (Answered).
		answered signal
	}
}

// Attributes returns a copy of the current attributes.
func (s *Session) Attributes() Attributes {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.attrs
}

// Pending is the number of tasks waiting for a worker (a snapshot).
func (s *Session) Pending() int {
	s.mu.Lock()
	n := len(s.mu.redeliver)
	s.mu.Unlock()
	return n + max(0, s.tasks.Len()-int(s.marks.Load())) + int(s.pushing.Load())
}

// Tasks counts the session's tasks queued (with redeliveries and those
// waiting for room) and in flight at workers.
func (s *Session) Tasks() (queued, inflight int) {
	return int(s.queuedTasks.Load()), int(s.inflightTasks.Load())
}

// Inflight is the number of batches held by workers, unanswered.
func (s *Session) Inflight() int {
	s.mu.Lock()
	leases := make([]*Lease, 0, len(s.mu.leases))
	for l := range s.mu.leases {
		leases = append(leases, l)
	}
	s.mu.Unlock()
	n := 0
	for _, l := range leases {
		n += l.Inflight()
	}
	return n
}

// Idle reports whether the session was marked idle by Sweep.
func (s *Session) Idle() bool { return s.idle.Load() }

func (s *Session) touch(now time.Time) {
	s.lastActivity.Store(now.UnixNano())
	if s.idle.Swap(false) {
		s.notify(s)
	}
}

// Enqueue assigns the task its batch id and queues it, blocking while the
// task queue is full. A task the session refuses is not queued.
func (s *Session) Enqueue(ctx context.Context, t *Batch, now time.Time) error {
	t.seq = s.batchSeq.Add(1)
	t.Enqueued = now
	t.ID = strconv.FormatUint(t.seq, 36)
	s.lastActivity.Store(now.UnixNano())
	if err := s.budget.wait(ctx, s, t.Bytes); err != nil {
		return err
	}
	s.outstanding.Add(1)
	s.holdBytes(t.Bytes)
	queued := s.account(t, 1)
	// Counted as pending while it waits to be queued: a speed queue holds
	// nothing, so without this no worker would ever be bound to take it.
	s.pushing.Add(1)
	if s.tasks.Len() == 0 || s.idle.Load() {
		s.touch(now)
		s.notify(s)
	} else if queued > 2*s.reported.Load() {
		// The backlog doubled since the scheduler last saw the session's
		// work: it may want more workers now, not at the next tick. A
		// steady backlog wakes nobody.
		s.notify(s)
	}
	err := s.tasks.Push(ctx, queue.Item{Value: t, Priority: t.Priority})
	s.pushing.Add(-1)
	if err != nil {
		s.outstanding.Add(-1)
		s.account(t, -1)
		s.Delivered(t.Bytes)
		if errors.Is(err, queue.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	return nil
}

// next takes the next task: redeliveries first, then the task queue.
func (s *Session) next(ctx context.Context) (*Batch, error) {
	for {
		if t := s.takeRedelivery(); t != nil {
			return t, nil
		}
		it, err := s.tasks.Pop(ctx)
		if err != nil {
			if errors.Is(err, queue.ErrClosed) {
				return nil, ErrClosed
			}
			return nil, err
		}
		if t := it.Value.(*Batch); t != redeliverMark {
			return t, nil
		}
		s.marks.Add(-1)
	}
}

func (s *Session) takeRedelivery() *Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.mu.redeliver) == 0 {
		return nil
	}
	t := s.mu.redeliver[0]
	s.mu.redeliver[0] = nil
	s.mu.redeliver = s.mu.redeliver[1:]
	return t
}

// requeue puts tasks back at the front of the queue, or dead-letters those
// that used up their attempts.
func (s *Session) requeue(ts []*Batch) {
	if len(ts) == 0 {
		return
	}
	s.mu.Lock()
	maxAttempts := s.mu.attrs.MaxAttempts
	closed := s.mu.closed
	slices.SortFunc(ts, func(a, b *Batch) int { return cmp.Compare(a.seq, b.seq) })
	var again []*Batch
	var dead []*Batch
	for _, t := range ts {
		if t.Attempts >= maxAttempts {
			t.Err = ReasonExhausted
			dead = append(dead, t)
		} else {
			again = append(again, t)
		}
	}
	if !closed {
		s.mu.redeliver = append(again, s.mu.redeliver...)
		for _, t := range again {
			s.account(t, 1)
		}
	}
	s.mu.Unlock()
	if closed {
		return
	}
	for _, t := range dead {
		// Never blocks: the caller may be the scheduler's tick or a
		// worker's stream, which serve other sessions too.
		if s.OfferDead(t) == nil {
			s.exhausted(t)
			s.Finish()
		}
	}
	s.wake(len(again))
	if len(again) > 0 {
		s.notify(s)
	}
}

// Outstanding is the number of accepted tasks that have neither a result
// nor a dead letter yet.
func (s *Session) Outstanding() int64 { return s.outstanding.Load() }

// Finish records the final outcome of one task: its results were sent to a
// client, or it went to the dead letters. When none is left it fires
// Answered, so that client streams waiting for the last answer can end.
func (s *Session) Finish() {
	if s.outstanding.Add(-1) == 0 {
		s.mu.Lock()
		s.mu.answered.fire()
		s.mu.Unlock()
		s.drained(s)
	}
}

// Answered returns a channel closed once every accepted task has its
// outcome (at once when none is outstanding now), for every waiter: a
// half-closed client stream ends on it, however many there are.
func (s *Session) Answered() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outstanding.Load() <= 0 || s.mu.closed {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return s.mu.answered.wait()
}

// Depths returns the lengths of the task (with redeliveries), result and
// dead-letter queues.
func (s *Session) Depths() (tasks, results, dead int) {
	s.deadOver.Lock()
	over := len(s.deadOver.items)
	s.deadOver.Unlock()
	return s.Pending(), s.results.Len(), s.dead.Len() + over
}

// ResultsLen is the number of queued result batches.
func (s *Session) ResultsLen() int { return s.results.Len() }

// PushResult queues a result batch for the client, blocking while the
// result queue is full (the worker is slowed, not failed).
func (s *Session) PushResult(ctx context.Context, r any) error {
	if err := s.results.Push(ctx, queue.Item{Value: r}); err != nil {
		if errors.Is(err, queue.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	return nil
}

// OfferResult queues a result batch for the client without blocking: past
// the result queue's capacity it waits in an overflow list, moved into the
// queue as the client reads. When the queue fills, the session is backed up
// (ResultsFull) until the client has read it down to half, and Notify is
// called at both changes: the queue manager gives a backed-up session no
// workers, which bounds the overflow by the batches in flight. A speed
// queue has no capacity to overflow: there OfferResult blocks until a
// consumer takes r.
func (s *Session) OfferResult(ctx context.Context, r any) error {
	it := queue.Item{Value: r}
	if s.results.Cap() == 0 {
		return s.PushResult(ctx, r)
	}
	if s.overflowing.Load() == 0 {
		err := s.results.TryPush(it)
		if err == nil {
			if s.results.Len() >= s.results.Cap() {
				s.setBackedUp(true)
			}
			return nil
		}
		if !errors.Is(err, queue.ErrFull) {
			return ErrClosed
		}
	}
	s.overflow.Lock()
	s.overflow.items = append(s.overflow.items, it)
	err := s.flushLocked() // the consumer may have emptied the queue meanwhile
	s.overflow.Unlock()
	if err != nil {
		return err
	}
	s.setBackedUp(true)
	return nil
}

// ResultsFull reports whether the session is backed up: its result queue
// filled and has not been read down to half since.
func (s *Session) ResultsFull() bool { return s.backedUp.Load() }

func (s *Session) setBackedUp(v bool) {
	if s.backedUp.CompareAndSwap(!v, v) {
		s.notify(s)
	}
}

// flushLocked moves overflow into the result queue while it has room; a
// closed queue discards it (shutdown counts it) and returns ErrClosed.
func (s *Session) flushLocked() error {
	items := s.overflow.items
	i := 0
	var err error
	for ; i < len(items); i++ {
		if err = s.results.TryPush(items[i]); err != nil {
			break
		}
	}
	if errors.Is(err, queue.ErrClosed) {
		i = len(items)
	}
	clear(items[:i])
	s.overflow.items = items[i:]
	if len(s.overflow.items) == 0 {
		s.overflow.items = nil
	}
	s.overflowing.Store(int64(len(s.overflow.items)))
	if errors.Is(err, queue.ErrClosed) {
		return ErrClosed
	}
	return nil
}

// PopResults waits for at least one result batch and takes up to len(dst).
func (s *Session) PopResults(ctx context.Context, dst []queue.Item) (int, error) {
	n, err := s.results.PopBatch(ctx, dst)
	if s.overflowing.Load() > 0 {
		s.overflow.Lock()
		_ = s.flushLocked() // PopBatch reports a closed queue
		s.overflow.Unlock()
	}
	if s.backedUp.Load() && s.overflowing.Load() == 0 && s.results.Len() <= s.results.Cap()/2 {
		s.setBackedUp(false)
	}
	if errors.Is(err, queue.ErrClosed) {
		return n, ErrClosed
	}
	return n, err
}

// OfferDead dead-letters a batch without blocking: past the dead-letter
// queue's capacity it waits in an overflow list, and the session is backed
// up (DeadFull: it gets no workers, so the list grows by at most what they
// hold) until the client reads its dead letters. ErrClosed when the
// session is closed.
func (s *Session) OfferDead(t *Batch) error {
	s.deadOver.Lock()
	defer s.deadOver.Unlock()
	if s.Done() {
		return ErrClosed
	}
	if len(s.deadOver.items) == 0 {
		err := s.dead.TryPush(queue.Item{Value: t})
		if err == nil {
			return nil
		}
		if !errors.Is(err, queue.ErrFull) {
			return ErrClosed
		}
	}
	s.deadOver.items = append(s.deadOver.items, t)
	if len(s.deadOver.items) == 1 {
		s.notify(s)
	}
	return nil
}

// DeadFull reports whether dead letters wait beyond the queue's capacity.
func (s *Session) DeadFull() bool {
	s.deadOver.Lock()
	defer s.deadOver.Unlock()
	return len(s.deadOver.items) > 0
}

// TakeDead removes and returns the dead letters held now, oldest first.
func (s *Session) TakeDead() []*Batch {
	var out []*Batch
	for {
		it, ok := tryPop(s.dead)
		if !ok {
			break
		}
		out = append(out, it.Value.(*Batch))
	}
	s.deadOver.Lock()
	over := s.deadOver.items
	s.deadOver.items = nil
	s.deadOver.Unlock()
	if len(over) > 0 {
		out = append(out, over...)
		s.notify(s) // no longer backed up
	}
	return out
}

func tryPop(q queue.Queue) (queue.Item, bool) {
	if q.Len() == 0 {
		return queue.Item{}, false
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a Pop that would block returns at once
	it, err := q.Pop(ctx)
	return it, err == nil
}

// Attached reports whether a client stream is attached.
func (s *Session) Attached() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.clients > 0
}

// Attach records a client stream on the session; the returned func detaches
// it and reports whether that was the last stream of a session that wants
// to be cleaned up on client exit.
func (s *Session) Attach(now time.Time) (detach func(now time.Time) (cleanup bool)) {
	s.mu.Lock()
	s.mu.clients++
	s.mu.Unlock()
	s.touch(now)
	var once sync.Once
	return func(now time.Time) (cleanup bool) {
		once.Do(func() {
			s.lastActivity.Store(now.UnixNano())
			s.mu.Lock()
			s.mu.clients--
			cleanup = s.mu.clients == 0 && s.mu.attrs.CleanupOnClientExit
			s.mu.Unlock()
		})
		return cleanup
	}
}

// LeaseOptions describe the worker behind a lease.
type LeaseOptions struct {
	// Slots is how many tasks the worker runs at once (at least 1).
	Slots int
	// Revoke, when not nil, asks the worker to give an unstarted batch
	// back (see Lease.revoke); nil for a worker that takes no such
	// request.
	Revoke func(id string)
}

// Lease binds a worker to the session for the length of its WorkerStream.
func (s *Session) Lease(workerID string, o LeaseOptions) (*Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, ErrClosed
	}
	l := &Lease{s: s, Worker: workerID, credit: make(chan struct{}, s.mu.attrs.MaxInflight),
		revoke: o.Revoke, slots: max(o.Slots, 1), idle: make(chan struct{}, 1)}
	s.slots.Add(int64(l.slots))
	l.mu.inflight = make(map[string]*flight)
	s.mu.leases[l] = struct{}{}
	return l, nil
}

func (s *Session) shutdown() (tasks, results, dead int) {
	// Its bytes leave the total budget; answers still moving through the
	// session now are not taken out again.
	s.releaseBytes()
	s.mu.Lock()
	s.mu.closed = true
	s.mu.fed.fire()
	s.mu.answered.fire()
	tasks = len(s.mu.redeliver)
	s.mu.redeliver = nil
	leases := s.mu.leases
	s.mu.leases = map[*Lease]struct{}{}
	s.mu.Unlock()
	for l := range leases {
		tasks += l.drop()
	}
	s.held.mu.Lock()
	s.held.ids, s.held.sending = nil, nil
	s.held.mu.Unlock()
	for _, q := range []queue.Queue{s.tasks, s.results, s.dead} {
		q.Close()
	}
	tasks += drain(s.tasks, true)
	results = drain(s.results, false)
	s.overflow.Lock()
	results += len(s.overflow.items)
	s.overflow.items = nil
	s.overflowing.Store(0)
	s.overflow.Unlock()
	dead = drain(s.dead, false)
	s.deadOver.Lock()
	dead += len(s.deadOver.items)
	s.deadOver.items = nil
	s.deadOver.Unlock()
	return tasks, results, dead
}

func drain(q queue.Queue, skipMarks bool) int {
	n := 0
	for {
		it, err := q.Pop(context.Background())
		if err != nil {
			return n
		}
		if skipMarks && it.Value == redeliverMark {
			continue
		}
		n++
	}
}

// Done reports whether the session has been closed.
func (s *Session) Done() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}
