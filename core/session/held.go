package session

import (
	"slices"
	"sync"
)

// heldIDs is the set of task ids a session holds: queued, at a worker, or
// answered with a result or dead letter the client has not been sent yet.
// A client that lost its stream resubmits what it has no answer for; the
// ids still held here are dropped from the resubmission, so a task never
// runs twice at once and never yields two results. Once an answer has been
// written to a client the id is released: a client resubmits only what it
// did not receive, so running it again is how a result lost with a broken
// connection is recovered.
//
// One window is left: an answer being written (Send returned nothing yet)
// to a stream that is already dead. The client resubmits on a new stream
// before the write fails or, worse, "succeeds" into a dead connection's
// buffer; without care the resubmission is dropped as held and the answer
// then released, and the task is lost. So answers in a write are
// registered (Sending), a resubmission of one of their ids is noted
// against that write (Hold, only on the rare duplicate path), and Sent
// returns those ids: the caller sends them again rather than release them.
type heldIDs struct {
	mu      sync.Mutex
	ids     map[string]struct{}
	next    uint64
	sending map[uint64]*sendingAnswer
}

// sendingAnswer is one answer batch in a write to a client.
type sendingAnswer struct {
	n      int
	id     func(int) string
	resent []int // indexes of ids resubmitted during the write
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
		k := id(i)
		h.ids[k] = struct{}{}
		if len(h.ids) == l {
			dups = append(dups, i)
			h.resentLocked(k)
		}
	}
	return dups
}

// resentLocked notes that held id k was resubmitted, if its answer is in a
// write now.
func (h *heldIDs) resentLocked(k string) {
	for _, a := range h.sending {
		for j := range a.n {
			if a.id(j) == k {
				a.resent = append(a.resent, j)
				return
			}
		}
	}
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

// Sending registers an answer batch of n ids that is about to be written
// to a client; the caller ends it with Sent after a write that succeeded,
// or Unsent after one that failed.
func (s *Session) Sending(n int, id func(int) string) (token uint64) {
	h := &s.held
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sending == nil {
		h.sending = make(map[uint64]*sendingAnswer)
	}
	h.next++
	h.sending[h.next] = &sendingAnswer{n: n, id: id}
	return h.next
}

// Sent releases the ids of a written answer batch, except those a client
// resubmitted during the write: their indexes are returned (nil in the
// common case), still held, and the caller must answer them again.
func (s *Session) Sent(token uint64) (resent []int) {
	h := &s.held
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.sending[token]
	delete(h.sending, token)
	if a == nil {
		return nil
	}
	for i := range a.n {
		if a.resent == nil || !slices.Contains(a.resent, i) {
			delete(h.ids, a.id(i))
		}
	}
	return a.resent
}

// Unsent ends the registration of an answer batch whose write failed: its
// ids stay held, for the caller keeps the answer for the next stream.
func (s *Session) Unsent(token uint64) {
	h := &s.held
	h.mu.Lock()
	delete(h.sending, token)
	h.mu.Unlock()
}

// Held is the number of task ids the session holds.
func (s *Session) Held() int {
	h := &s.held
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}
