package session

import (
	"context"
	"sync"
	"time"
)

// flight is a task delivered to a worker and not yet answered.
type flight struct {
	t *Batch
	// sent is when the send to the worker completed; zero while sending,
	// so that a timeout never requeues a task the sender still reads.
	sent time.Time
	// at is sent on the real clock, for the session's work estimates.
	at time.Time
	// revoking: the worker was asked to give the batch back (steal);
	// started: it answered that it had started it.
	revoking, started bool
}

// Lease is a worker's binding to a session for the length of one
// WorkerStream: it hands out tasks under the session's in-flight limit and
// tracks them until their results arrive. One sender goroutine calls Take
// and Sent; one receiver goroutine calls Complete; Release ends the lease.
type Lease struct {
	s      *Session
	Worker string
	// credit holds a token per unanswered batch; its capacity is the
	// session's max_inflight_batches_per_worker at bind time.
	credit chan struct{}
	// revoke asks the worker to give batch id back (Returned or Started
	// answers it); nil for a worker that does not take such requests. It
	// must not block.
	revoke func(id string)
	// slots is how many tasks the worker runs at once.
	slots int

	mu struct {
		sync.Mutex
		inflight map[string]*flight
		tasks    int       // tasks in the in-flight batches
		lastDone time.Time // real time of the last answer
		released bool
		// taking: Take is waiting in dispatch; hungry: and the lease is
		// counted in the session's hungry leases (nothing in flight).
		taking, hungry bool
	}
	// idle wakes a Take waiting as busy when a slot of the worker frees
	// up.
	idle chan struct{}
}

// Session returns the leased session.
func (l *Lease) Session() *Session { return l.s }

// MaxInflight is the in-flight limit of this lease.
func (l *Lease) MaxInflight() int { return cap(l.credit) }

// Take blocks until the worker may receive another batch and one is
// available under the dispatch rules (dispatch.go), then records it in
// flight with Attempts incremented. The caller sends it and then calls
// Sent.
func (l *Lease) Take(ctx context.Context) (*Batch, error) {
	select {
	case l.credit <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t, err := l.s.dispatch(ctx, l)
	if err != nil {
		<-l.credit
		return nil, err
	}
	t.Attempts++
	l.mu.Lock()
	if l.mu.released {
		l.mu.Unlock()
		<-l.credit
		l.s.requeue([]*Batch{t})
		return nil, ErrClosed
	}
	l.mu.inflight[t.ID] = &flight{t: t}
	l.mu.tasks += t.N
	l.mu.Unlock()
	l.s.inflightTasks.Add(int64(t.N))
	return t, nil
}

// Sent marks the send of task id as complete; its task_timeout runs from now.
func (l *Lease) Sent(id string, now time.Time) {
	l.mu.Lock()
	if f, ok := l.mu.inflight[id]; ok {
		f.sent, f.at = now, time.Now()
	}
	l.mu.Unlock()
}

// Unsent returns a task whose send failed to the front of the queue
// without counting the attempt.
func (l *Lease) Unsent(id string) {
	if f := l.remove(id); f != nil {
		f.t.Attempts--
		l.s.requeue([]*Batch{f.t})
	}
}

// Complete ends the flight of batch id and returns its task. ok is false
// for a batch this lease does not hold: a late or duplicate answer, which
// the caller drops so the client never sees a result twice.
func (l *Lease) Complete(id string) (t *Batch, ok bool) {
	now := time.Now()
	var busy time.Duration
	l.mu.Lock()
	f, ok := l.mu.inflight[id]
	if ok {
		delete(l.mu.inflight, id)
		l.mu.tasks -= f.t.N
		if !f.at.IsZero() {
			// The worker's time for this batch: from its send, or from
			// the previous answer when it was still busy then.
			start := f.at
			if l.mu.lastDone.After(start) {
				start = l.mu.lastDone
			}
			busy = now.Sub(start)
			l.mu.lastDone = now
		}
	}
	l.mu.Unlock()
	if !ok {
		return nil, false
	}
	l.ended(f)
	l.s.observe(busy, f.t.N)
	return f.t, true
}

// Returned takes back batch id, which the worker gave back unstarted after
// a revoke request, and requeues it at the front without counting the
// attempt. An id that was not asked for is ignored.
func (l *Lease) Returned(id string) bool {
	l.mu.Lock()
	f, ok := l.mu.inflight[id]
	ok = ok && f.revoking
	l.mu.Unlock()
	if !ok {
		return false
	}
	if f = l.remove(id); f == nil {
		return false
	}
	f.t.Attempts--
	l.s.putBack(f.t)
	return true
}

// Started records the worker's answer that it had already started batch
// id when asked to give it back; its result follows.
func (l *Lease) Started(id string) {
	l.mu.Lock()
	f, ok := l.mu.inflight[id]
	was := ok && f.revoking
	if ok {
		f.started, f.revoking = true, false
	}
	l.mu.Unlock()
	if was {
		l.s.stealDone()
	}
}

// oldestLocked returns the flight sent first, which the worker works on;
// nil when none is in flight. l.mu is held.
func (l *Lease) oldestLocked() *flight {
	var oldest *flight
	for _, f := range l.mu.inflight {
		// A flight still being sent (zero at) is the newest.
		if oldest == nil || !f.at.IsZero() && (oldest.at.IsZero() || f.at.Before(oldest.at)) {
			oldest = f
		}
	}
	return oldest
}

// remove ends the flight of batch id and returns it, or nil.
func (l *Lease) remove(id string) *flight {
	l.mu.Lock()
	f, ok := l.mu.inflight[id]
	if ok {
		delete(l.mu.inflight, id)
		l.mu.tasks -= f.t.N
	}
	l.mu.Unlock()
	if !ok {
		return nil
	}
	l.ended(f)
	return f
}

// ended settles the accounts of a flight taken out of the in-flight map. A
// Take waiting as busy whose window ran dry turns hungry: it counts for the
// hungry-first rule and steals.
func (l *Lease) ended(f *flight) {
	<-l.credit
	l.s.inflightTasks.Add(-int64(f.t.N))
	if f.revoking {
		l.s.stealDone()
	}
	if !l.s.spread() {
		return
	}
	l.mu.Lock()
	turned := l.mu.taking && !l.mu.hungry && l.mu.tasks < l.slots
	if turned {
		l.mu.hungry = true
		l.s.hungry.Add(1)
	}
	l.mu.Unlock()
	if !turned {
		return
	}
	select {
	case l.idle <- struct{}{}:
	default:
	}
	if l.s.Pending() == 0 && l.s.spread() {
		l.s.steal()
	}
}

// candidateLocked returns the batch a steal would ask back, the newest
// sent one other than the oldest, which the worker has probably started,
// and the tasks the lease has in flight. l.mu is held.
func (l *Lease) candidateLocked() (id string, tasks int) {
	oldest := l.oldestLocked()
	var newest *flight
	for _, f := range l.mu.inflight {
		if f == oldest || f.sent.IsZero() || f.started || f.revoking {
			continue
		}
		if newest == nil || f.at.After(newest.at) {
			newest = f
		}
	}
	if newest == nil {
		return "", 0
	}
	return newest.t.ID, l.mu.tasks
}

// Inflight is the number of unanswered batches.
func (l *Lease) Inflight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.inflight)
}

// Release ends the lease: every unanswered batch goes back to the front of
// the session's queue (or to the dead letters once out of attempts).
func (l *Lease) Release() {
	ts := l.takeAll()
	l.s.mu.Lock()
	if _, ok := l.s.mu.leases[l]; ok {
		delete(l.s.mu.leases, l)
		l.s.slots.Add(-int64(l.slots))
	}
	l.s.mu.Unlock()
	l.s.requeue(ts)
}

// takeAll ends every flight and returns their tasks.
func (l *Lease) takeAll() []*Batch {
	l.mu.Lock()
	l.mu.released = true
	ids := make([]string, 0, len(l.mu.inflight))
	for id := range l.mu.inflight {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	ts := make([]*Batch, 0, len(ids))
	for _, id := range ids {
		if f := l.remove(id); f != nil {
			ts = append(ts, f.t)
		}
	}
	return ts
}

// drop discards the lease's batches when the session closes.
func (l *Lease) drop() int { return len(l.takeAll()) }

// expire requeues the batches sent before deadline.
func (l *Lease) expire(deadline time.Time) int {
	var ids []string
	l.mu.Lock()
	for id, f := range l.mu.inflight {
		if !f.sent.IsZero() && f.sent.Before(deadline) {
			ids = append(ids, id)
		}
	}
	l.mu.Unlock()
	var ts []*Batch
	for _, id := range ids {
		if f := l.remove(id); f != nil {
			ts = append(ts, f.t)
		}
	}
	l.s.requeue(ts)
	return len(ts)
}
