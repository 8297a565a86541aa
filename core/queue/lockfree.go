package queue

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// closedBit marks the enqueue position of a closed lockfree queue: once set,
// no producer's CAS on the position can succeed, so no item is accepted
// after Close.
const closedBit = 1 << 63

// spinTries is how often an operation retries, yielding in between, before
// it parks. Short: on two cores a spinning goroutine steals the time of the
// one that would make progress.
const spinTries = 4

type lfCell struct {
	// seq is the position this cell is ready for: pos when free for the
	// producer of pos, pos+1 when it holds the item of pos.
	seq atomic.Uint64
	it  Item
}

// pad keeps the hot counters on separate cache lines.
type pad [64]byte

// lockFree is the lockfree kind: a bounded multi-producer multi-consumer
// ring after Dmitry Vyukov's design. Producers and consumers claim
// positions with a CAS on their own counter and hand items over through the
// cell's sequence number. Cells are reused lap after lap, but a cell's
// sequence carries its lap, so a stale claim cannot succeed (no ABA), and no
// nodes are allocated or recycled. Goroutines that find the queue empty (or
// full) retry a few times, then park on a wait list; the other side takes
// the mutex only when its atomic count says someone is parked, so an idle
// consumer costs no CPU and the busy path takes no lock.
type lockFree struct {
	_     pad
	enq   atomic.Uint64 // next position to fill; closedBit when closed
	_     pad
	deq   atomic.Uint64 // next position to take
	_     pad
	cells []lfCell
	size  uint64 // len(cells)
	limit uint64 // Capacity; below size only for Capacity 1

	mu     sync.Mutex
	pops   waitList
	pushes waitList
}

func newLockFree(o Options) Queue {
	c := o.capacity()
	// One cell cannot tell "holds the item of pos" from "free for pos+1":
	// the ring needs two, and a length check keeps the bound at one item.
	n := max(c, 2)
	q := &lockFree{cells: make([]lfCell, n), size: uint64(n), limit: uint64(c)}
	for i := range q.cells {
		q.cells[i].seq.Store(uint64(i))
	}
	return q
}

// tryEnqueue is one lock-free attempt: ErrFull, ErrClosed or nil. locked
// says the caller holds mu (its re-check after parking).
func (q *lockFree) tryEnqueue(it Item, locked bool) error {
	for {
		pos := q.enq.Load()
		if pos&closedBit != 0 {
			return ErrClosed
		}
		if q.limit < q.size && pos-q.deq.Load() >= q.limit {
			return ErrFull
		}
		c := &q.cells[pos%q.size]
		switch d := int64(c.seq.Load() - pos); {
		case d == 0:
			if q.enq.CompareAndSwap(pos, pos+1) {
				c.it = it
				c.seq.Store(pos + 1)
				if q.pops.n.Load() > 0 {
					q.wake(&q.pops, locked)
				}
				return nil
			}
		case d < 0:
			return ErrFull // the consumer of the previous lap has not taken it yet
		}
	}
}

// tryDequeue is one lock-free attempt; ok is false when nothing is ready.
// locked says the caller holds mu.
func (q *lockFree) tryDequeue(locked bool) (Item, bool) {
	for {
		pos := q.deq.Load()
		c := &q.cells[pos%q.size]
		switch d := int64(c.seq.Load() - (pos + 1)); {
		case d == 0:
			if q.deq.CompareAndSwap(pos, pos+1) {
				it := c.it
				c.it = Item{}
				c.seq.Store(pos + q.size)
				if q.pushes.n.Load() > 0 {
					q.wake(&q.pushes, locked)
				}
				return it, true
			}
		case d < 0:
			return Item{}, false
		}
	}
}

func (q *lockFree) wake(l *waitList, locked bool) {
	if locked {
		l.wakeOne()
		return
	}
	q.mu.Lock()
	l.wakeOne()
	q.mu.Unlock()
}

// drainedOrClosed decides, when tryDequeue found nothing, whether the
// queue is closed with every accepted item taken. A producer that won its
// CAS before Close may still be writing its cell; then the caller retries.
func (q *lockFree) drainedOrClosed() (closed, pending bool) {
	e := q.enq.Load()
	if e&closedBit == 0 {
		return false, false
	}
	return true, q.deq.Load() < e&^closedBit
}

func (q *lockFree) Push(ctx context.Context, it Item) error {
	for i := 0; ; i++ {
		err := q.tryEnqueue(it, false)
		if err != ErrFull {
			return err
		}
		if i < spinTries {
			runtime.Gosched()
			continue
		}
		q.mu.Lock()
		w := q.pushes.park()
		// Re-check after parking: a consumer that freed a cell before it
		// could see us parked must not leave us asleep.
		err = q.tryEnqueue(it, true)
		if err != ErrFull {
			q.unpark(&q.pushes, w)
			return err
		}
		if err := q.sleep(ctx, &q.pushes, w); err != nil {
			return err
		}
	}
}

func (q *lockFree) TryPush(it Item) error { return q.tryEnqueue(it, false) }

// unpark takes w back after the caller succeeded without sleeping, passing
// on a token it may have been handed meanwhile. Called with mu held; unlocks.
func (q *lockFree) unpark(l *waitList, w *waiter) {
	if !l.remove(w) {
		<-w.ch
		l.wakeOne()
	}
	q.mu.Unlock()
	waiterPool.Put(w)
}

// sleep blocks on w (parked on l) until woken or ctx is done. Called with
// mu held; returns with it released.
func (q *lockFree) sleep(ctx context.Context, l *waitList, w *waiter) error {
	q.mu.Unlock()
	select {
	case <-w.ch:
		waiterPool.Put(w)
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		q.unpark(l, w)
		return ctx.Err()
	}
}

func (q *lockFree) Pop(ctx context.Context) (Item, error) {
	for i := 0; ; i++ {
		if it, ok := q.tryDequeue(false); ok {
			return it, nil
		}
		closed, pending := q.drainedOrClosed()
		if closed && !pending {
			return Item{}, ErrClosed
		}
		if i < spinTries || pending {
			runtime.Gosched()
			continue
		}
		q.mu.Lock()
		w := q.pops.park()
		if it, ok := q.tryDequeue(true); ok {
			q.unpark(&q.pops, w)
			return it, nil
		}
		if closed, _ := q.drainedOrClosed(); closed {
			q.unpark(&q.pops, w)
			continue
		}
		if err := q.sleep(ctx, &q.pops, w); err != nil {
			return Item{}, err
		}
	}
}

func (q *lockFree) PopBatch(ctx context.Context, dst []Item) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	it, err := q.Pop(ctx)
	if err != nil {
		return 0, err
	}
	dst[0] = it
	n := 1
	for ; n < len(dst); n++ {
		var ok bool
		if dst[n], ok = q.tryDequeue(false); !ok {
			break
		}
	}
	return n, nil
}

func (q *lockFree) Len() int {
	e := q.enq.Load() &^ closedBit
	d := q.deq.Load()
	if e <= d {
		return 0
	}
	return int(min(e-d, q.limit))
}

func (q *lockFree) Cap() int { return int(q.limit) }

func (q *lockFree) Close() {
	for {
		e := q.enq.Load()
		if e&closedBit != 0 || q.enq.CompareAndSwap(e, e|closedBit) {
			break
		}
	}
	q.mu.Lock()
	q.pops.wakeAll()
	q.pushes.wakeAll()
	q.mu.Unlock()
}

var _ Queue = (*lockFree)(nil)
