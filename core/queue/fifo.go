package queue

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// chanQueue is the fifo kind: a buffered Go channel (unbuffered, it is the
// speed kind). Close cannot close the channel itself (a racing sender would
// panic), so it closes done instead; senders count themselves in pushing so
// that a consumer never reports ErrClosed while an accepted item is still on
// its way into the channel.
type chanQueue struct {
	ch      chan Item
	done    chan struct{}
	once    sync.Once
	pushing atomic.Int64
}

func newFIFO(o Options) Queue {
	return &chanQueue{ch: make(chan Item, o.capacity()), done: make(chan struct{})}
}

func (q *chanQueue) isClosed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

func (q *chanQueue) Push(ctx context.Context, it Item) error {
	q.pushing.Add(1)
	defer q.pushing.Add(-1)
	if q.isClosed() {
		return ErrClosed
	}
	select {
	case q.ch <- it:
		return nil
	default:
	}
	select {
	case q.ch <- it:
		return nil
	case <-q.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *chanQueue) TryPush(it Item) error {
	q.pushing.Add(1)
	defer q.pushing.Add(-1)
	if q.isClosed() {
		return ErrClosed
	}
	select {
	case q.ch <- it:
		return nil
	default:
		return ErrFull
	}
}

// drained reports an item left after Close, or ErrClosed once no sender
// can still add one.
func (q *chanQueue) drained() (Item, error) {
	for {
		select {
		case it := <-q.ch:
			return it, nil
		default:
		}
		if q.pushing.Load() == 0 {
			select {
			case it := <-q.ch:
				return it, nil
			default:
				return Item{}, ErrClosed
			}
		}
		runtime.Gosched() // a sender is between its check and its send
	}
}

func (q *chanQueue) Pop(ctx context.Context) (Item, error) {
	select {
	case it := <-q.ch:
		return it, nil
	default:
	}
	select {
	case it := <-q.ch:
		return it, nil
	case <-q.done:
		return q.drained()
	case <-ctx.Done():
		return Item{}, ctx.Err()
	}
}

func (q *chanQueue) PopBatch(ctx context.Context, dst []Item) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	it, err := q.Pop(ctx)
	if err != nil {
		return 0, err
	}
	dst[0] = it
	return 1 + drainReady(q.ch, dst[1:]), nil
}

// drainReady receives into dst what ch can give without blocking.
func drainReady(ch chan Item, dst []Item) int {
	for n := range dst {
		select {
		case dst[n] = <-ch:
		default:
			return n
		}
	}
	return len(dst)
}

func (q *chanQueue) Len() int { return len(q.ch) }
func (q *chanQueue) Cap() int { return cap(q.ch) }

func (q *chanQueue) Close() { q.once.Do(func() { close(q.done) }) }

var _ Queue = (*chanQueue)(nil)
