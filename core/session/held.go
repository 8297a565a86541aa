package session

import "sync"

// heldIDs is the set of task ids a session holds: queued, at a worker, or
// answered with a result or dead letter the client has not been sent yet.
// A client that lost its stream resubmits what it has no answer for; the
// ids still held here are dropped from the resubmission, so a task never
// runs twice at once and never yields two results. Once an answer has been
// written to a client the id is released: a client resubmits only what it
// did not receive, so running it again is how a result lost with a broken
// connection is recovered.
type heldIDs struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// Hold records n task ids, id(0) to id(n-1), and returns the indexes of
// those already held (nil when there are none, the common case), which the
// caller must not enqueue.
func (s *Session) Hold(n int, id func(int) string) (dups []int) {
	h := &s.held
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ids == nil {
		h.ids = make(map[string]struct{}, n)
	}
	for i := range n {
		// One probe per id: storing a held id again leaves the length
		// as it was. At tens of thousands of ids in flight each probe is
		// a cache miss, and this is one of two per task (Release).
		l := len(h.ids)
		h.ids[id(i)] = struct{}{}
		if len(h.ids) == l {
			dups = append(dups, i)
		}
	}
	return dups
}

// Release forgets n task ids whose answer reached a client, or whose
// enqueue failed.
func (s *Session) Release(n int, id func(int) string) {
	h := &s.held
	h.mu.Lock()
	for i := range n {
		delete(h.ids, id(i))
	}
	h.mu.Unlock()
}

// Held is the number of task ids the session holds.
func (s *Session) Held() int {
	h := &s.held
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}
