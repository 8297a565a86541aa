package session

import (
	"sync/atomic"
	"testing"

	"github.com/alpcrun/alpcrun/core/queue"
)

// OfferResult never blocks: past the result queue's capacity results wait
// in the overflow, every one reaches the consumer, and the session is
// backed up from a full queue until it is read down to half, with Notify
// at both changes.
func TestOfferResultOverflows(t *testing.T) {
	for _, kind := range queue.Kinds() {
		if kind == queue.Speed {
			continue // no capacity: OfferResult is PushResult
		}
		t.Run(string(kind), func(t *testing.T) {
			var notes atomic.Int64
			r, err := NewRegistry(Config{QueueKind: kind, BufferSize: 4, Notify: func(*Session) { notes.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			s, err := r.Create("", "app", Attributes{}, t0)
			if err != nil {
				t.Fatal(err)
			}
			base := notes.Load()
			for i := range 10 {
				if err := s.OfferResult(ctx(t), i); err != nil {
					t.Fatal(err)
				}
			}
			if !s.ResultsFull() || notes.Load() != base+1 {
				t.Fatalf("after 10 offers: full %v, notes %d", s.ResultsFull(), notes.Load()-base)
			}
			seen := make(map[any]bool)
			dst := make([]queue.Item, 1)
			for len(seen) < 10 {
				n, err := s.PopResults(ctx(t), dst)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range dst[:n] {
					seen[it.Value] = true
				}
			}
			if s.ResultsFull() || notes.Load() != base+2 {
				t.Fatalf("after reading all: full %v, notes %d", s.ResultsFull(), notes.Load()-base)
			}
			// What is still overflowing when the session closes is counted
			// as discarded.
			for i := range 6 {
				if err := s.OfferResult(ctx(t), i); err != nil {
					t.Fatal(err)
				}
			}
			d, err := r.Close(s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d.Results != 6 {
				t.Fatalf("discarded %d results, want 6", d.Results)
			}
			if err := s.OfferResult(ctx(t), 0); err != ErrClosed {
				t.Fatalf("offer after close: %v", err)
			}
		})
	}
}
