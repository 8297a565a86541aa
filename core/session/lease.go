package session

import (
	"context"
	"sync"
	"time"
)

// flight is a task delivered to a worker and not yet answered.
type flight struct {
	t *Task
	// sent is when the send to the worker completed; zero while sending,
	// so that a timeout never requeues a task the sender still reads.
	sent time.Time
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

	mu struct {
		sync.Mutex
		inflight map[string]*flight
		released bool
	}
}

// Session returns the leased session.
func (l *Lease) Session() *Session { return l.s }

// MaxInflight is the in-flight limit of this lease.
func (l *Lease) MaxInflight() int { return cap(l.credit) }

// Take blocks until the worker may receive another batch and a task is
// available, then records it in flight with Attempts incremented. The
// caller sends it and then calls Sent.
func (l *Lease) Take(ctx context.Context) (*Task, error) {
	select {
	case l.credit <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t, err := l.s.next(ctx)
	if err != nil {
		<-l.credit
		return nil, err
	}
	t.Attempts++
	l.mu.Lock()
	if l.mu.released {
		l.mu.Unlock()
		<-l.credit
		l.s.requeue([]*Task{t})
		return nil, ErrClosed
	}
	l.mu.inflight[t.ID] = &flight{t: t}
	l.mu.Unlock()
	return t, nil
}

// Sent marks the send of task id as complete; its task_timeout runs from now.
func (l *Lease) Sent(id string, now time.Time) {
	l.mu.Lock()
	if f, ok := l.mu.inflight[id]; ok {
		f.sent = now
	}
	l.mu.Unlock()
}

// Unsent returns a task whose send failed to the front of the queue
// without counting the attempt.
func (l *Lease) Unsent(id string) {
	l.mu.Lock()
	f, ok := l.mu.inflight[id]
	delete(l.mu.inflight, id)
	l.mu.Unlock()
	if ok {
		<-l.credit
		f.t.Attempts--
		l.s.requeue([]*Task{f.t})
	}
}

// Complete ends the flight of batch id and returns its task. ok is false
// for a batch this lease does not hold: a late or duplicate answer, which
// the caller drops so the client never sees a result twice.
func (l *Lease) Complete(id string) (t *Task, ok bool) {
	l.mu.Lock()
	f, ok := l.mu.inflight[id]
	if ok {
		delete(l.mu.inflight, id)
	}
	l.mu.Unlock()
	if !ok {
		return nil, false
	}
	<-l.credit
	return f.t, true
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
	delete(l.s.mu.leases, l)
	l.s.mu.Unlock()
	l.s.requeue(ts)
}

func (l *Lease) takeAll() []*Task {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.released = true
	ts := make([]*Task, 0, len(l.mu.inflight))
	for id, f := range l.mu.inflight {
		ts = append(ts, f.t)
		delete(l.mu.inflight, id)
	}
	return ts
}

// drop discards the lease's batches when the session closes.
func (l *Lease) drop() int { return len(l.takeAll()) }

// expire requeues the batches sent before deadline.
func (l *Lease) expire(deadline time.Time) int {
	var ts []*Task
	l.mu.Lock()
	for id, f := range l.mu.inflight {
		if !f.sent.IsZero() && f.sent.Before(deadline) {
			ts = append(ts, f.t)
			delete(l.mu.inflight, id)
		}
	}
	l.mu.Unlock()
	for range ts {
		<-l.credit
	}
	l.s.requeue(ts)
	return len(ts)
}
