package queue

// ringBuf is a fixed ring of Items: the mutex kind's storage.
type ringBuf struct {
	items []Item
	head  int // index of the oldest item
	n     int
}

func (r *ringBuf) put(it Item) {
	r.items[(r.head+r.n)%len(r.items)] = it
	r.n++
}

func (r *ringBuf) take() Item {
	it := r.items[r.head]
	r.items[r.head] = Item{} // drop the reference for the GC
	r.head = (r.head + 1) % len(r.items)
	r.n--
	return it
}

func (r *ringBuf) size() int { return r.n }

// newMutex is the mutex kind: one mutex around a ring buffer. It is the
// baseline the other kinds must beat.
func newMutex(o Options) Queue {
	c := o.capacity()
	return &locked[*ringBuf]{buf: &ringBuf{items: make([]Item, c)}, cap: c}
}

var _ Queue = (*locked[*ringBuf])(nil)
