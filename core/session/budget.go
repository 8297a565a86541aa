package session

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
)

// budget bounds the bytes a session holds for its client, per session and
// in all (Config.SessionBytes, Config.TotalBytes): a task batch's bytes
// count from Enqueue until its answer (result or dead letter) was sent to
// the client, so queued batches, batches at workers and answers the client
// has not read all count, the answer standing in for its task's bytes.
// Enqueue waits for room, so a client past a budget is slowed by flow
// control, and nothing is refused or lost; a client that never reads its
// results stops being read itself. A batch always fits an empty session,
// so a batch larger than a budget still goes through, alone.
type budget struct {
	session, total int64 // 0: unbounded
	held           atomic.Int64
	waiters        atomic.Int64
	mu             struct {
		sync.Mutex
		room signal // fired when bytes are freed while someone waits
	}
}

// fits reports whether n more bytes fit s and the total.
func (b *budget) fits(s *Session, n int64) bool {
	own := s.heldBytes.Load()
	if b.session > 0 && own > 0 && own+n > b.session {
		return false
	}
	all := b.held.Load()
	return b.total == 0 || all == 0 || all+n <= b.total
}

// wait blocks until n bytes fit s, or ctx ends.
func (b *budget) wait(ctx context.Context, s *Session, n int64) error {
	if b.session == 0 && b.total == 0 {
		return nil
	}
	for !b.fits(s, n) {
		b.waiters.Add(1)
		b.mu.Lock()
		room := b.mu.room.wait()
		b.mu.Unlock()
		fits := b.fits(s, n) // bytes freed before we registered
		if !fits {
			select {
			case <-room:
			case <-ctx.Done():
				b.waiters.Add(-1)
				return ctx.Err()
			}
		}
		b.waiters.Add(-1)
	}
	return nil
}

// add counts n bytes held (negative: delivered or dropped) and wakes the
// waiters when bytes are freed.
func (b *budget) add(n int64) {
	b.held.Add(n)
	if n < 0 && b.waiters.Load() > 0 {
		b.mu.Lock()
		b.mu.room.fire()
		b.mu.Unlock()
	}
}

// account adds t's tasks to the session's queued count (sign 1) or takes
// them out (sign -1), and returns the queued tasks.
func (s *Session) account(t *Batch, sign int64) int64 {
	return s.queuedTasks.Add(sign * int64(t.N))
}

// goneBytes marks heldBytes of a session that shut down: its bytes left
// the budget at once, and later deliveries must not take them out again.
const goneBytes = math.MinInt64 / 2

// holdBytes counts n bytes accepted (Enqueue).
func (s *Session) holdBytes(n int64) {
	s.moveBytes(n)
}

// Delivered takes the bytes of an answer the client was sent, or of a
// batch that was not queued, out of the budgets (Batch.Bytes).
func (s *Session) Delivered(n int64) {
	s.moveBytes(-n)
}

func (s *Session) moveBytes(n int64) {
	if n == 0 {
		return
	}
	for {
		cur := s.heldBytes.Load()
		if cur < 0 { // gone: shutdown took every byte out
			return
		}
		if s.heldBytes.CompareAndSwap(cur, cur+n) {
			s.budget.add(n)
			return
		}
	}
}

// releaseBytes takes every byte the session holds out of the total budget
// at shutdown.
func (s *Session) releaseBytes() {
	if n := s.heldBytes.Swap(goneBytes); n > 0 {
		s.budget.add(-n)
	}
}
