package queue

import (
	"context"
	"sync"
	"sync/atomic"
)

// waiter is one parked goroutine. Its channel has room for exactly one
// wake-up token, so a waker never blocks.
type waiter struct{ ch chan struct{} }

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

// waitList is a FIFO of parked goroutines. Every method is called with the
// owner's mutex held; n mirrors the length so that lock-free producers can
// skip the mutex when nobody is parked.
type waitList struct {
	ws []*waiter
	n  atomic.Int32
}

func (l *waitList) park() *waiter {
	w := waiterPool.Get().(*waiter)
	l.ws = append(l.ws, w)
	l.n.Add(1)
	return w
}

// wakeOne hands a token to the longest-parked waiter, if any. The woken
// goroutine re-checks its condition, so a spurious wake-up is harmless.
func (l *waitList) wakeOne() {
	if len(l.ws) == 0 {
		return
	}
	w := l.ws[0]
	copy(l.ws, l.ws[1:])
	l.ws[len(l.ws)-1] = nil
	l.ws = l.ws[:len(l.ws)-1]
	l.n.Add(-1)
	w.ch <- struct{}{}
}

func (l *waitList) wakeAll() {
	for len(l.ws) > 0 {
		l.wakeOne()
	}
}

// remove takes w off the list; false means a waker already took it and its
// token is in w.ch.
func (l *waitList) remove(w *waiter) bool {
	for i, x := range l.ws {
		if x == w {
			copy(l.ws[i:], l.ws[i+1:])
			l.ws[len(l.ws)-1] = nil
			l.ws = l.ws[:len(l.ws)-1]
			l.n.Add(-1)
			return true
		}
	}
	return false
}

// block parks the caller on l until woken or ctx is done. It is called with
// mu held, releases it while blocked, and returns with mu held. A token that
// arrives together with cancellation is passed on, so no wake-up is lost.
func (l *waitList) block(ctx context.Context, mu *sync.Mutex) error {
	w := l.park()
	mu.Unlock()
	select {
	case <-w.ch:
		mu.Lock()
		waiterPool.Put(w)
		return nil
	case <-ctx.Done():
		mu.Lock()
		if !l.remove(w) {
			<-w.ch
			l.wakeOne()
		}
		waiterPool.Put(w)
		return ctx.Err()
	}
}
