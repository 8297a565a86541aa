package queue

import (
	"context"
	"sync"
)

// buffer is the storage of a mutex-guarded queue; the queue serialises all
// calls. take is only called when size() > 0.
type buffer interface {
	put(Item)
	take() Item
	size() int
}

// locked turns a buffer into a blocking, bounded, closable Queue with one
// mutex. It is the skeleton of the mutex and priority kinds.
type locked[B buffer] struct {
	mu     sync.Mutex
	buf    B
	cap    int
	closed bool
	pops   waitList // consumers waiting for an item
	pushes waitList // producers waiting for room
}

func (q *locked[B]) Push(ctx context.Context, it Item) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed {
			return ErrClosed
		}
		if q.buf.size() < q.cap {
			q.buf.put(it)
			q.pops.wakeOne()
			return nil
		}
		if err := q.pushes.block(ctx, &q.mu); err != nil {
			return err
		}
	}
}

func (q *locked[B]) TryPush(it Item) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if q.buf.size() >= q.cap {
		return ErrFull
	}
	q.buf.put(it)
	q.pops.wakeOne()
	return nil
}

// waitItem blocks until the buffer is non-empty. Called and returns with mu held.
func (q *locked[B]) waitItem(ctx context.Context) error {
	for q.buf.size() == 0 {
		if q.closed {
			return ErrClosed
		}
		if err := q.pops.block(ctx, &q.mu); err != nil {
			return err
		}
	}
	return nil
}

func (q *locked[B]) Pop(ctx context.Context) (Item, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.waitItem(ctx); err != nil {
		return Item{}, err
	}
	it := q.buf.take()
	q.pushes.wakeOne()
	return it, nil
}

func (q *locked[B]) PopBatch(ctx context.Context, dst []Item) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.waitItem(ctx); err != nil {
		return 0, err
	}
	n := 0
	for n < len(dst) && q.buf.size() > 0 {
		dst[n] = q.buf.take()
		q.pushes.wakeOne()
		n++
	}
	return n, nil
}

func (q *locked[B]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.buf.size()
}

func (q *locked[B]) Cap() int { return q.cap }

func (q *locked[B]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.pops.wakeAll()
	q.pushes.wakeAll()
}
