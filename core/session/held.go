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
	sending []*Answer // in writes now; few: one per client stream at most
}

// Answer is an answer batch in a write to a client, for Sending and Sent.
// A stream reuses one for all its writes, so that registering a write
// allocates nothing.
type Answer struct {
	N  int              // ids in the batch
	ID func(int) string // id(0) to id(N-1)
	// resent holds the indexes of ids resubmitted during the write.
	resent []int
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
		}
	}
	if dups != nil && len(h.sending) > 0 {
		h.resentLocked(dups, id)
	}
	return dups
}

// resentLocked notes the resubmitted ids, id(dups[i]), whose answers are
// in a write now. One pass over the answers in writes, whatever the
// number of duplicates: a client cannot make the session's lock scan them
// once per id it resubmits.
func (h *heldIDs) resentLocked(dups []int, id func(int) string) {
	set := make(map[string]struct{}, len(dups))
	for _, i := range dups {
		set[id(i)] = struct{}{}
	}
	for _, a := range h.sending {
		for j := range a.N {
			if _, ok := set[a.ID(j)]; ok {
				a.resent = append(a.resent, j)
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

// Sending registers answer a, about to be written to a client; the caller
// ends it with Sent after a write that succeeded, or Unsent after one that
// failed, before it registers a again.
func (s *Session) Sending(a *Answer) {
	h := &s.held
	h.mu.Lock()
	a.resent = a.resent[:0]
	h.sending = append(h.sending, a)
	h.mu.Unlock()
}

// Sent releases the ids of a written answer, except those a client
// resubmitted during the write: their indexes are returned (nil in the
// common case; valid until a is registered again), still held, and the
// caller must answer them again.
func (s *Session) Sent(a *Answer) (resent []int) {
	h := &s.held
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.unregisterLocked(a) {
		return nil // the session closed meanwhile
	}
	for i := range a.N {
		if len(a.resent) == 0 || !slices.Contains(a.resent, i) {
			delete(h.ids, a.ID(i))
		}
	}
	if len(a.resent) == 0 {
		return nil
	}
	return a.resent
}

// Unsent ends the registration of an answer whose write failed: its ids
// stay held, for the caller keeps the answer for the next stream.
func (s *Session) Unsent(a *Answer) {
	h := &s.held
	h.mu.Lock()
	h.unregisterLocked(a)
	h.mu.Unlock()
}

func (h *heldIDs) unregisterLocked(a *Answer) bool {
	i := slices.Index(h.sending, a)
	if i < 0 {
		return false
	}
	h.sending = slices.Delete(h.sending, i, i+1)
	return true
}

// Held is the number of task ids the session holds.
func (s *Session) Held() int {
	h := &s.held
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}
