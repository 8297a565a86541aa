package session

import (
	"context"
	"sync"
	"sync/atomic"
)

// budget bounds the bytes of queued task batches, per session and in all
// (Config.SessionBytes, Config.TotalBytes): Enqueue waits for room, so a
// client past a budget is slowed by flow control, and nothing is refused
// or lost. A batch always fits an empty session, so a batch larger than a
// budget still goes through, alone.
type budget struct {
	session, total int64 // 0: unbounded
	queued         atomic.Int64
	waiters        atomic.Int64
	mu             struct {
		sync.Mutex
		room signal // fired when bytes are freed while someone waits
	}
}

// fits reports whether n more bytes fit s and the total.
func (b *budget) fits(s *Session, n int64) bool {
	own := s.queuedBytes.Load()
	if b.session > 0 && own > 0 && own+n > b.session {
		return false
	}
	all := b.queued.Load()
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

// add counts n bytes queued (negative: dispatched or dropped) and wakes
// the waiters when bytes are freed.
func (b *budget) add(n int64) {
	b.queued.Add(n)
	if n < 0 && b.waiters.Load() > 0 {
		b.mu.Lock()
		b.mu.room.fire()
		b.mu.Unlock()
	}
}

// account adds t's tasks and bytes to the session's queued counts (sign
// 1) or takes them out (sign -1), and returns the queued tasks.
func (s *Session) account(t *Batch, sign int64) int64 {
	q := s.queuedTasks.Add(sign * int64(t.N))
	if t.Bytes != 0 && !s.gone.Load() {
		s.queuedBytes.Add(sign * t.Bytes)
		s.budget.add(sign * t.Bytes)
	}
	return q
}
