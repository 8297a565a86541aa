package queue

import (
	"context"
	"sync"
)

// speedQueue is the speed kind: an unbuffered hand-off from producer to
// consumer with no storage at all. It measures the cost of the rendezvous
// alone and exists for benchmarking only: a producer blocks until a consumer
// takes its item, so the queue manager cannot absorb a burst with it.
type speedQueue struct {
	ch   chan Item
	done chan struct{}
	once sync.Once
}

func newSpeed(Options) Queue {
	return &speedQueue{ch: make(chan Item), done: make(chan struct{})}
}

func (q *speedQueue) Push(ctx context.Context, it Item) error {
	select {
	case <-q.done:
		return ErrClosed
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

// TryPush succeeds only when a consumer is already waiting in Pop.
func (q *speedQueue) TryPush(it Item) error {
	select {
	case <-q.done:
		return ErrClosed
	default:
	}
	select {
	case q.ch <- it:
		return nil
	default:
		return ErrFull
	}
}

func (q *speedQueue) Pop(ctx context.Context) (Item, error) {
	select {
	case <-q.done:
		return Item{}, ErrClosed // nothing is ever stored, so nothing to drain
	default:
	}
	select {
	case it := <-q.ch:
		return it, nil
	case <-q.done:
		return Item{}, ErrClosed
	case <-ctx.Done():
		return Item{}, ctx.Err()
	}
}

// PopBatch waits for one item, then takes whatever producers are already
// blocked offering.
func (q *speedQueue) PopBatch(ctx context.Context, dst []Item) (int, error) {
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

func (q *speedQueue) Len() int { return 0 }
func (q *speedQueue) Cap() int { return 0 }

func (q *speedQueue) Close() { q.once.Do(func() { close(q.done) }) }

var _ Queue = (*speedQueue)(nil)
