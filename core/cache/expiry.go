package cache

import (
	"container/heap"
	"fmt"
)

// item is an entry as a Store or a Node holds it.
type item struct {
	key   Key
	e     Entry
	size  int64
	index int   // in the expiry heap
	prev  *item // LRU order (Node only): prev is more recent
	next  *item
	owner string // the tenant that set it (Store only); "" for none
}

// ownedBy returns ErrNotOwner unless a writer of tenant owner may change
// the entry: one without an owner, or set by the same tenant.
func (it *item) ownedBy(owner string) error {
	if it.owner != "" && it.owner != owner {
		return fmt.Errorf("%w: session %q", ErrNotOwner, it.key.Session)
	}
	return nil
}

// expiryHeap orders items by expiry, soonest first, so that removing the
// expired ones costs O(log n) each rather than a scan of all entries.
type expiryHeap []*item

var _ heap.Interface = (*expiryHeap)(nil)

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].e.Expires.Before(h[j].e.Expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *expiryHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}

func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old) - 1
	it := old[n]
	old[n] = nil
	*h = old[:n]
	return it
}
