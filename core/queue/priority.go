package queue

// bucket is the FIFO of one priority: a ring that grows by doubling and
// keeps its array when the bucket is reused.
type bucket struct {
	prio  uint32
	items []Item
	head  int
	n     int
}

func (b *bucket) push(it Item) {
	if b.n == len(b.items) {
		grown := make([]Item, max(8, 2*len(b.items)))
		for i := range b.n {
			grown[i] = b.items[(b.head+i)%len(b.items)]
		}
		b.items, b.head = grown, 0
	}
	b.items[(b.head+b.n)%len(b.items)] = it
	b.n++
}

func (b *bucket) pop() Item {
	it := b.items[b.head]
	b.items[b.head] = Item{} // drop the reference for the GC
	b.head = (b.head + 1) % len(b.items)
	b.n--
	return it
}

// heapBuf is a typed binary max-heap of priority buckets: higher priority
// first, FIFO among equal priorities because each bucket is a FIFO (the
// order of arrival stands in for a sequence number). A heap of single
// items would sift log2(n) levels on every pop even when every item has
// the same priority, the common case; here a pop sifts only when a bucket
// empties, and a push touches the heap only for a priority not queued yet,
// so with k distinct priorities queued both cost O(log k). No
// container/heap: its interface boxing would cost an allocation per push.
type heapBuf struct {
	heap   []*bucket // max-heap by prio
	byPrio map[uint32]*bucket
	last   *bucket // bucket of the last put: the usual next one
	free   []*bucket
	n      int
}

func (h *heapBuf) put(it Item) {
	b := h.last
	if b == nil || b.prio != it.Priority {
		b = h.byPrio[it.Priority]
		if b == nil {
			b = h.newBucket(it.Priority)
		}
		h.last = b
	}
	b.push(it)
	h.n++
}

func (h *heapBuf) newBucket(prio uint32) *bucket {
	var b *bucket
	if k := len(h.free); k > 0 {
		b, h.free = h.free[k-1], h.free[:k-1]
	} else {
		b = &bucket{}
	}
	b.prio = prio
	h.byPrio[prio] = b
	h.heap = append(h.heap, b)
	for i := len(h.heap) - 1; i > 0; {
		p := (i - 1) / 2
		if h.heap[p].prio >= h.heap[i].prio {
			break
		}
		h.heap[i], h.heap[p] = h.heap[p], h.heap[i]
		i = p
	}
	return b
}

func (h *heapBuf) take() Item {
	b := h.heap[0]
	it := b.pop()
	h.n--
	if b.n == 0 {
		h.dropTop()
	}
	return it
}

// dropTop removes the emptied top bucket and keeps it for reuse.
func (h *heapBuf) dropTop() {
	b := h.heap[0]
	delete(h.byPrio, b.prio)
	if h.last == b {
		h.last = nil
	}
	h.free = append(h.free, b)
	last := len(h.heap) - 1
	h.heap[0] = h.heap[last]
	h.heap[last] = nil
	h.heap = h.heap[:last]
	for i := 0; ; {
		c := 2*i + 1
		if c >= last {
			break
		}
		if r := c + 1; r < last && h.heap[r].prio > h.heap[c].prio {
			c = r
		}
		if h.heap[i].prio >= h.heap[c].prio {
			break
		}
		h.heap[i], h.heap[c] = h.heap[c], h.heap[i]
		i = c
	}
}

func (h *heapBuf) size() int { return h.n }

// newPriority is the priority kind: higher Item.Priority first, FIFO among
// equal priorities.
func newPriority(o Options) Queue {
	return &locked[*heapBuf]{buf: &heapBuf{byPrio: make(map[uint32]*bucket)}, cap: o.capacity()}
}

var _ Queue = (*locked[*heapBuf])(nil)
