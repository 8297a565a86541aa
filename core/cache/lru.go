package cache

import (
	"container/heap"
	"time"
)

// lru holds entries by key within a capacity in bytes, evicting the least
// recently used. It is not safe for concurrent use.
type lru struct {
	capacity int64
	size     int64
	m        map[Key]*item
	head     item // sentinel of the recency ring: head.next is the most recent
	exp      expiryHeap
}

func newLRU(capacity int64) *lru {
	l := &lru{capacity: capacity, m: make(map[Key]*item)}
	l.head.next, l.head.prev = &l.head, &l.head
	return l
}

func weight(k Key, e Entry) int64 { return int64(len(e.Payload)+len(k.Session)) + Overhead }

// get returns the live entry of k and marks it most recent; an expired one
// is removed.
func (l *lru) get(k Key, now time.Time) (Entry, bool) {
	it := l.m[k]
	if it == nil {
		return Entry{}, false
	}
	if !now.Before(it.e.Expires) {
		l.remove(it)
		return Entry{}, false
	}
	l.unlink(it)
	l.pushFront(it)
	return it.e, true
}

// add stores e under k as the most recent entry, replacing what k held,
// and evicts from the least recent end until the capacity holds. An entry
// that is expired or heavier than the whole capacity is not kept.
func (l *lru) add(k Key, e Entry, now time.Time) {
	if old := l.m[k]; old != nil {
		l.remove(old)
	}
	w := weight(k, e)
	if w > l.capacity || !now.Before(e.Expires) {
		return
	}
	for l.size+w > l.capacity {
		l.remove(l.head.prev)
	}
	it := &item{key: k, e: e, size: w}
	l.m[k] = it
	l.size += w
	l.pushFront(it)
	heap.Push(&l.exp, it)
}

func (l *lru) remove(it *item) {
	l.unlink(it)
	heap.Remove(&l.exp, it.index)
	delete(l.m, it.key)
	l.size -= it.size
}

func (l *lru) removeExpired(now time.Time) int {
	n := 0
	for len(l.exp) > 0 && !now.Before(l.exp[0].e.Expires) {
		l.remove(l.exp[0])
		n++
	}
	return n
}

// forget removes every level of session, scanning all entries.
func (l *lru) forget(session string) int {
	n := 0
	for k, it := range l.m {
		if k.Session == session {
			l.remove(it)
			n++
		}
	}
	return n
}

func (l *lru) unlink(it *item) {
	it.prev.next, it.next.prev = it.next, it.prev
	it.prev, it.next = nil, nil
}

func (l *lru) pushFront(it *item) {
	it.prev, it.next = &l.head, l.head.next
	l.head.next.prev = it
	l.head.next = it
}
