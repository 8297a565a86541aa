package session

import (
	"context"
	"strconv"
	"time"

	"github.com/alpcrun/alpcrun/core/queue"
)

// Dispatch: how a session's batches are spread over the workers bound to
// it (docs/design.md, "Dispatch"). The session measures a worker's time
// per task from the answers. Tasks of spreadTask or more (or not measured
// yet) are spread by three rules; for echo-like tasks only the split rule
// can apply, and only to a batch of more than splitWork, so the loaded fast
// path stays a plain queue pop.
//
//   - A worker with fewer tasks in flight than task slots is hungry (its
//     slots come with WorkerStream metadata "slots", default 1). While any
//     worker of the session is hungry, a worker whose slots are all taken
//     gets no further batch: it waits, and a batch it popped meanwhile
//     goes back to the front for the hungry worker.
//   - A batch is split at dispatch when it holds more than the taker's
//     share: as many tasks as the taker has slots, or more when that is
//     less than splitWork of work; a session with one worker is never
//     split. The rest goes back to the front of the queue as a batch of
//     its own with a new id. So no task waits inside a started batch,
//     where no other worker could take it.
//   - A hungry worker finding the queue empty steals: the queue manager
//     asks the worker with the most tasks in flight to give back its newest
//     batch other than its oldest (lease.revoke). A batch the worker has
//     not started comes back (Returned) and is requeued at the front
//     without counting an attempt; a started one stays (Started), and the
//     next candidate is tried.

// spreadTask is the time per task from which the hungry-first and steal
// rules pay for their bookkeeping.
const spreadTask = 20 * time.Microsecond

// splitWork is the least work a piece split off a batch carries, so that
// its extra message (tens of microseconds of queue manager and worker time)
// stays a small part of it.
const splitWork = 5 * time.Millisecond

// spread reports whether the session's tasks are worth spreading.
func (s *Session) spread() bool {
	per := s.taskNs.Load()
	return per == 0 || per >= int64(spreadTask)
}

// observe folds the time a worker took for a batch of n tasks into the
// session's estimates: a moving average over about eight batches.
func (s *Session) observe(d time.Duration, n int) {
	if n <= 0 || d <= 0 {
		return
	}
	x, old := int64(d)/int64(n), s.taskNs.Load()
	if old != 0 {
		x = old + (x-old)/8
	}
	s.taskNs.Store(max(x, 1)) // 0 means unknown
}

// SetBound records how many workers the scheduler has bound to the session;
// the split rule divides the work by it.
func (s *Session) SetBound(n int) { s.bound.Store(int64(n)) }

// dispatch takes the next batch for lease l under the rules above.
func (s *Session) dispatch(ctx context.Context, l *Lease) (*Batch, error) {
	if !s.spread() { // the fast path: a plain pop
		t, err := s.next(ctx)
		if err != nil {
			return nil, err
		}
		s.account(t, -1)
		s.splitOff(t, l.slots)
		return t, nil
	}
	for {
		l.mu.Lock()
		busy := l.mu.tasks >= l.slots
		l.mu.taking = true
		if !busy && !l.mu.hungry {
			l.mu.hungry = true
			s.hungry.Add(1)
		}
		l.mu.Unlock()
		if busy && s.spread() {
			idle, err := s.waitFed(ctx, l.idle)
			if err != nil {
				l.doneTaking()
				return nil, err
			}
			if idle {
				continue // our own window ran dry: we are hungry now
			}
		}
		if !busy && s.Pending() == 0 && s.spread() {
			s.steal()
		}
		t, err := s.next(ctx)
		hungry := l.doneTaking()
		if err != nil {
			return nil, err
		}
		s.account(t, -1)
		if !hungry && s.hungry.Load() > 0 && s.spread() {
			s.putBack(t)
			continue
		}
		s.splitOff(t, l.slots)
		return t, nil
	}
}

// doneTaking ends a dispatch wait and reports whether the lease was
// counted hungry; the busy leases waiting for none to be hungry are woken
// when it was the last.
func (l *Lease) doneTaking() (hungry bool) {
	l.mu.Lock()
	hungry = l.mu.hungry
	l.mu.taking, l.mu.hungry = false, false
	l.mu.Unlock()
	if hungry {
		l.s.fed()
	}
	return hungry
}

// fed wakes the busy leases waiting for no lease to be hungry when the last
// hungry one is fed.
func (s *Session) fed() {
	if s.hungry.Add(-1) != 0 {
		return
	}
	s.mu.Lock()
	s.mu.fed.fire()
	s.mu.Unlock()
}

// waitFed waits until no lease of the session is hungry, or until idle
// fires (the waiting lease's own window ran dry: idle is true then).
func (s *Session) waitFed(ctx context.Context, own <-chan struct{}) (idle bool, err error) {
	s.mu.Lock()
	if s.hungry.Load() == 0 || s.mu.closed {
		s.mu.Unlock()
		return false, nil
	}
	ch := s.mu.fed.wait()
	s.mu.Unlock()
	select {
	case <-ch:
		return false, nil
	case <-own:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// putBack returns a batch that was taken but not sent to the front of the
// queue, as it was.
func (s *Session) putBack(t *Batch) {
	s.account(t, 1)
	s.mu.Lock()
	closed := s.mu.closed
	if !closed {
		s.mu.redeliver = append([]*Batch{t}, s.mu.redeliver...)
	}
	s.mu.Unlock()
	if !closed {
		s.wake(1)
	}
}

// wake pushes n marks into the task queue so that consumers blocked in Pop
// look at the redelivery list. When the queue is full nobody is blocked
// there, so a refused mark loses nothing.
func (s *Session) wake(n int) {
	for range n {
		s.marks.Add(1)
		if s.tasks.TryPush(queue.Item{Value: redeliverMark, Priority: ^uint32(0)}) != nil {
			s.marks.Add(-1)
		}
	}
}

// splitOff shrinks t to the share of a taker with slots task slots and
// puts the rest back at the front of the queue as a new batch. The share
// fills the taker's slots, and carries at least splitWork of work: a
// started batch's tasks are all running (or about to), so every task that
// waits is in the queue or in an unstarted batch that a steal can move.
// t is already counted out of the queue.
func (s *Session) splitOff(t *Batch, slots int) {
	if t.N < 2 || s.split == nil || s.bound.Load() < 2 {
		return
	}
	// An eighth of the taker's share by slots of what is left: large pieces
	// early, when the queue is long, and slot-sized ones at the end.
	left := s.queuedTasks.Load() + int64(t.N)
	all := max(s.slots.Load(), s.bound.Load()*int64(slots))
	piece := max(int64(slots), ceilDiv(left*int64(slots), 8*all))
	if per := s.taskNs.Load(); per > 0 {
		piece = max(piece, ceilDiv(int64(splitWork), per))
	}
	if int64(t.N) <= piece {
		return
	}
	head, tail := s.split(t.Payload, int(piece))
	rest := &Batch{
		ID:       strconv.FormatUint(s.batchSeq.Add(1), 36),
		Priority: t.Priority,
		Payload:  tail,
		N:        t.N - int(piece),
		Bytes:    t.Bytes * (int64(t.N) - piece) / int64(t.N),
		Attempts: t.Attempts,
		Enqueued: t.Enqueued,
		seq:      t.seq,
	}
	t.Payload, t.N, t.Bytes = head, int(piece), t.Bytes-rest.Bytes
	s.outstanding.Add(1)
	s.putBack(rest)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// steal asks a worker of the session to give back a batch it has not
// started, for a hungry worker; at most one request per hungry worker is
// under way.
func (s *Session) steal() {
	s.mu.Lock()
	if int64(s.mu.stealing) >= s.hungry.Load() {
		s.mu.Unlock()
		return
	}
	var victim *Lease
	var id string
	most := 0
	for l := range s.mu.leases {
		if l.revoke == nil {
			continue
		}
		l.mu.Lock()
		if c, n := l.candidateLocked(); c != "" && !l.mu.hungry && (victim == nil || n > most) {
			victim, id, most = l, c, n
		}
		l.mu.Unlock()
	}
	if victim == nil {
		s.mu.Unlock()
		return
	}
	victim.mu.Lock()
	f, ok := victim.mu.inflight[id]
	if !ok || f.started || f.revoking { // answered or asked for meanwhile
		victim.mu.Unlock()
		s.mu.Unlock()
		return
	}
	f.revoking = true
	victim.mu.Unlock()
	s.mu.stealing++
	s.mu.Unlock()
	victim.revoke(id)
}

// stealDone ends one revoke request, answered or moot, and lets a hungry
// worker try the next candidate.
func (s *Session) stealDone() {
	s.mu.Lock()
	s.mu.stealing--
	s.mu.Unlock()
	if s.hungry.Load() > 0 && s.Pending() == 0 {
		s.steal()
	}
}

// Work returns the session's tasks that no worker has started, queued or
// in a worker's window behind the batch it works on, and the number of
// workers busy with its batches: the scheduler's demand.
func (s *Session) Work() (waiting, busy int) {
	waiting = int(s.queuedTasks.Load())
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.mu.leases {
		l.mu.Lock()
		if len(l.mu.inflight) > 0 {
			busy++
			waiting += l.mu.tasks - l.oldestLocked().t.N
		}
		l.mu.Unlock()
	}
	waiting = max(waiting, 0)
	s.reported.Store(int64(waiting))
	return waiting, busy
}
