package queue

// heapEntry orders items by priority, then by arrival.
type heapEntry struct {
	it  Item
	seq uint64
}

// heapBuf is a typed binary max-heap: no container/heap, so no boxing of
// entries into interfaces on every push and pop.
type heapBuf struct {
	es  []heapEntry
	seq uint64
}

func (h *heapBuf) before(i, j int) bool {
	a, b := &h.es[i], &h.es[j]
	if a.it.Priority != b.it.Priority {
		return a.it.Priority > b.it.Priority
	}
	return a.seq < b.seq
}

func (h *heapBuf) put(it Item) {
	h.seq++
	h.es = append(h.es, heapEntry{it: it, seq: h.seq})
	i := len(h.es) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.before(i, p) {
			break
		}
		h.es[i], h.es[p] = h.es[p], h.es[i]
		i = p
	}
}

func (h *heapBuf) take() Item {
	top := h.es[0].it
	last := len(h.es) - 1
	h.es[0] = h.es[last]
	h.es[last] = heapEntry{} // drop the reference for the GC
	h.es = h.es[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		c := l
		if r := l + 1; r < last && h.before(r, l) {
			c = r
		}
		if !h.before(c, i) {
			break
		}
		h.es[i], h.es[c] = h.es[c], h.es[i]
		i = c
	}
	return top
}

func (h *heapBuf) size() int { return len(h.es) }

// newHeap is the priority kind: higher Item.Priority first, FIFO among
// equal priorities by a sequence number taken at push.
func newHeap(o Options) Queue {
	c := o.capacity()
	return &locked[*heapBuf]{buf: &heapBuf{es: make([]heapEntry, 0, c)}, cap: c}
}

var _ Queue = (*locked[*heapBuf])(nil)
