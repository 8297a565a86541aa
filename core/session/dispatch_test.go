package session

import (
	"slices"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/core/queue"
)

// splitInts is a Split over payloads that are slices of task ids.
func splitInts(p any, n int) (head, tail any) {
	ids := p.([]int)
	return ids[:n:n], ids[n:]
}

// A batch larger than the taker's slots is split at dispatch: the taker
// gets a slot-sized piece, the rest waits at the front under a new id, and
// the session counts the tasks queued, in flight and waiting for workers.
func TestSplitAtDispatch(t *testing.T) {
	r, err := NewRegistry(Config{QueueKind: queue.Priority, BufferSize: 16, Split: splitInts})
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Create("", "app", Attributes{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	if err := s.Enqueue(ctx(t), &Batch{Payload: ids, N: len(ids)}, t0); err != nil {
		t.Fatal(err)
	}
	if q, f := s.Tasks(); q != 10 || f != 0 {
		t.Fatalf("queued %d, in flight %d", q, f)
	}
	s.SetBound(4)
	a, _ := s.Lease("a", LeaseOptions{Slots: 2})
	b, _ := s.Lease("b", LeaseOptions{Slots: 2})
	ta := take(t, a)
	if ta.N != 2 || !slices.Equal(ta.Payload.([]int), []int{0, 1}) {
		t.Fatalf("first piece %v (N %d)", ta.Payload, ta.N)
	}
	tb := take(t, b)
	if tb.ID == ta.ID || tb.N != 2 || tb.Payload.([]int)[0] != 2 {
		t.Fatalf("second piece %s %v, first %s", tb.ID, tb.Payload, ta.ID)
	}
	if q, f := s.Tasks(); q != 6 || f != 4 {
		t.Fatalf("queued %d, in flight %d", q, f)
	}
	if waiting, busy := s.Work(); waiting != 6 || busy != 2 {
		t.Fatalf("work: waiting %d, busy %d", waiting, busy)
	}
	if s.Outstanding() != 3 {
		t.Fatalf("outstanding %d batches, want 3 (two pieces and the rest)", s.Outstanding())
	}
	a.Complete(ta.ID)
	if q, f := s.Tasks(); q != 6 || f != 2 {
		t.Fatalf("after an answer: queued %d, in flight %d", q, f)
	}
}

// A session with one worker never splits.
func TestNoSplitForOneWorker(t *testing.T) {
	r, _ := NewRegistry(Config{QueueKind: queue.Priority, BufferSize: 16, Split: splitInts})
	s, _ := r.Create("", "app", Attributes{}, t0)
	if err := s.Enqueue(ctx(t), &Batch{Payload: []int{1, 2, 3, 4}, N: 4}, t0); err != nil {
		t.Fatal(err)
	}
	s.SetBound(1)
	l, _ := s.Lease("a", LeaseOptions{Slots: 1})
	if tk := take(t, l); tk.N != 4 {
		t.Fatalf("one worker got %d of 4 tasks", tk.N)
	}
}

// Returned takes back only a batch that was asked for, and requeues it at
// the front without counting the attempt; Started keeps it in flight.
func TestReturnedAndStarted(t *testing.T) {
	r := newReg(t, queue.Priority)
	s, _ := r.Create("", "app", Attributes{}, t0)
	var asked []string
	l, _ := s.Lease("a", LeaseOptions{Slots: 1, Revoke: func(id string) { asked = append(asked, id) }})
	enqueue(t, s, "x", "y")
	x := take(t, l)
	y := take(t, l)
	if l.Returned(y.ID) {
		t.Fatal("returned a batch nobody asked for")
	}
	hungry, _ := s.Lease("b", LeaseOptions{Slots: 1})
	s.hungry.Add(1) // b waits with nothing in flight
	s.steal()
	if !slices.Equal(asked, []string{y.ID}) {
		t.Fatalf("asked back %v, want the newer batch %s", asked, y.ID)
	}
	if !l.Returned(y.ID) {
		t.Fatal("the asked-for batch was not taken back")
	}
	s.hungry.Add(-1)
	again := take(t, hungry)
	if again.ID != y.ID || again.Attempts != 1 {
		t.Fatalf("hungry worker got %s (attempt %d), want %s, attempt 1", again.ID, again.Attempts, y.ID)
	}
	if _, ok := l.Complete(x.ID); !ok {
		t.Fatal("x lost")
	}
}

// Bytes held past a session's budget, or past the total, hold Enqueue
// back (flow control) until the answers of earlier batches were delivered
// to the client: a dispatch does not free room, for a batch at a worker
// and its unread answer still take memory. An empty session always takes
// a batch, however large.
func TestByteBudgets(t *testing.T) {
	r, err := NewRegistry(Config{QueueKind: queue.Priority, BufferSize: 16, SessionBytes: 100, TotalBytes: 120})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := r.Create("a", "app", Attributes{}, t0)
	b, _ := r.Create("b", "app", Attributes{}, t0)
	if err := a.Enqueue(ctx(t), &Batch{Payload: "big", N: 1, Bytes: 500}, t0); err != nil {
		t.Fatalf("an empty session refused a large batch: %v", err)
	}
	waitsFor := func(s *Session, bytes int64) <-chan error {
		done := make(chan error, 1)
		go func() { done <- s.Enqueue(ctx(t), &Batch{Payload: "x", N: 1, Bytes: bytes}, t0) }()
		deadline := time.Now().Add(10 * time.Second)
		for r.budget.waiters.Load() == 0 { // the Enqueue is held back
			if time.Now().After(deadline) {
				t.Fatal("Enqueue was not held back by the budget")
			}
			time.Sleep(time.Millisecond)
		}
		return done
	}
	held := waitsFor(a, 60) // a holds 500 > 100
	lease, _ := a.Lease("w", LeaseOptions{})
	big := take(t, lease)
	if _, ok := lease.Complete(big.ID); !ok {
		t.Fatal("big batch lost")
	}
	select {
	case err := <-held:
		t.Fatalf("dispatch and answer, not yet sent, freed room (%v)", err)
	default:
	}
	a.Delivered(big.Bytes) // its answer reached the client
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := b.Enqueue(ctx(t), &Batch{Payload: "y", N: 1, Bytes: 40}, t0); err != nil {
		t.Fatal(err)
	}
	held = waitsFor(b, 40) // 60 + 40 + 40 > the total 120
	a.Delivered(60)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if got := r.budget.held.Load(); got != 80 {
		t.Fatalf("%d bytes counted held, want 80", got)
	}
	if _, err := r.Close("b"); err != nil {
		t.Fatal(err)
	}
	b.Delivered(40) // an answer sent after the close is not taken out twice
	if got := r.budget.held.Load(); got != 0 {
		t.Fatalf("closing b left %d bytes counted", got)
	}
}
