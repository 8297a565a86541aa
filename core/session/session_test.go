package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/core/queue"
)

var t0 = time.Unix(1e9, 0)

func newReg(t *testing.T, kind queue.Kind) *Registry {
	t.Helper()
	r, err := NewRegistry(Config{QueueKind: kind, BufferSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func enqueue(t *testing.T, s *Session, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := s.Enqueue(ctx(t), &Batch{Payload: n}, t0); err != nil {
			t.Fatal(err)
		}
	}
}

func take(t *testing.T, l *Lease) *Batch {
	t.Helper()
	tk, err := l.Take(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	l.Sent(tk.ID, t0)
	return tk
}

func TestCreateValidatesAndFillsDefaults(t *testing.T) {
	r := newReg(t, queue.Priority)
	if _, err := r.Create("", "", Attributes{}, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no app id: %v", err)
	}
	one, two := uint32(1), uint32(2)
	if _, err := r.Create("", "app", Attributes{MinWorkers: &two, MaxWorkers: &one, Priority: 11}, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad attributes: %v", err)
	}
	s, err := r.Create("", "app", Attributes{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	a := s.Attributes()
	if s.ID == "" || a.ClientID == "" || a.IdleTimeout != DefaultIdleTimeout || a.MaxInflight != DefaultMaxInflight || a.MaxAttempts != DefaultMaxAttempts {
		t.Fatalf("defaults: %q %+v", s.ID, a)
	}
	if _, err := r.Create(s.ID, "app", Attributes{}, t0); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
}

func TestRedeliveryGoesToTheFrontInOrder(t *testing.T) {
	for _, k := range queue.Kinds() {
		if k == queue.Speed {
			continue // holds nothing, so there is no front
		}
		t.Run(string(k), func(t *testing.T) {
			r := newReg(t, k)
			s, _ := r.Create("", "app", Attributes{MaxInflight: 4}, t0)
			enqueue(t, s, "a", "b", "c", "d", "e")
			l, _ := s.Lease("w1", LeaseOptions{})
			var got []string
			for range 3 {
				got = append(got, take(t, l).Payload.(string))
			}
			l.Release() // worker died holding a, b, c
			l2, _ := s.Lease("w2", LeaseOptions{})
			for range 5 {
				tk := take(t, l2)
				got = append(got, fmt.Sprintf("%s%d", tk.Payload, tk.Attempts))
				l2.Complete(tk.ID)
			}
			want := []string{"a", "b", "c", "a2", "b2", "c2", "d1", "e1"}
			if !slices.Equal(got, want) {
				t.Fatalf("order %v, want %v", got, want)
			}
		})
	}
}

func TestExhaustedAttemptsDeadLetter(t *testing.T) {
	r := newReg(t, queue.Priority)
	s, _ := r.Create("", "app", Attributes{MaxAttempts: 2}, t0)
	enqueue(t, s, "x")
	for range 2 {
		l, _ := s.Lease("w", LeaseOptions{})
		take(t, l)
		l.Release()
	}
	dead := s.TakeDead()
	if len(dead) != 1 || dead[0].Err != ReasonExhausted || dead[0].Attempts != 2 {
		t.Fatalf("dead letters %+v", dead)
	}
	if s.Pending() != 0 || s.Outstanding() != 0 {
		t.Fatalf("pending %d outstanding %d", s.Pending(), s.Outstanding())
	}
}

func TestLateCompleteIsRefused(t *testing.T) {
	r := newReg(t, queue.FIFO)
	s, _ := r.Create("", "app", Attributes{TaskTimeout: time.Second}, t0)
	enqueue(t, s, "x")
	l, _ := s.Lease("w", LeaseOptions{})
	tk := take(t, l)
	if res := r.Sweep(t0.Add(2 * time.Second)); res.Redelivered != 1 {
		t.Fatalf("sweep redelivered %d", res.Redelivered)
	}
	if _, ok := l.Complete(tk.ID); ok {
		t.Fatal("answer accepted after the batch was requeued")
	}
	again := take(t, l)
	if again.ID != tk.ID || again.Attempts != 2 {
		t.Fatalf("redelivery %s/%d", again.ID, again.Attempts)
	}
	if _, ok := l.Complete(again.ID); !ok {
		t.Fatal("current flight refused")
	}
	if _, ok := l.Complete(again.ID); ok {
		t.Fatal("second answer accepted")
	}
}

func TestInflightLimitBlocksTake(t *testing.T) {
	r := newReg(t, queue.LockFree)
	s, _ := r.Create("", "app", Attributes{MaxInflight: 2}, t0)
	enqueue(t, s, "a", "b", "c")
	l, _ := s.Lease("w", LeaseOptions{})
	a := take(t, l)
	take(t, l)
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Take(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Take = %v, want to block", err)
	}
	l.Complete(a.ID)
	if tk := take(t, l); tk.Payload != "c" {
		t.Fatalf("got %v", tk.Payload)
	}
}

func TestSweepIdleAndExpiry(t *testing.T) {
	r, _ := NewRegistry(Config{QueueKind: queue.Priority, Expiry: time.Hour})
	s, _ := r.Create("", "app", Attributes{IdleTimeout: time.Minute}, t0)
	detach := s.Attach(t0)
	if res := r.Sweep(t0.Add(10 * time.Minute)); len(res.Idled) != 0 {
		t.Fatal("an attached session went idle")
	}
	detach(t0)
	if res := r.Sweep(t0.Add(59 * time.Second)); len(res.Idled) != 0 {
		t.Fatal("idle too early")
	}
	if res := r.Sweep(t0.Add(time.Minute)); len(res.Idled) != 1 || !s.Idle() {
		t.Fatal("not idle after idle_timeout")
	}
	enqueue(t, s, "x") // activity wakes it
	if s.Idle() {
		t.Fatal("still idle after a batch")
	}
	if res := r.Sweep(t0.Add(time.Hour)); len(res.Expired) != 1 {
		t.Fatalf("not expired: %+v", res)
	}
	if _, err := r.Get(s.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("expired session still there")
	}
}

func TestCloseDiscardsAndCounts(t *testing.T) {
	r := newReg(t, queue.Mutex)
	s, _ := r.Create("", "app", Attributes{}, t0)
	enqueue(t, s, "a", "b", "c")
	l, _ := s.Lease("w", LeaseOptions{})
	take(t, l)
	if err := s.PushResult(ctx(t), "r"); err != nil {
		t.Fatal(err)
	}
	d, err := r.Close(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d != (Discarded{Tasks: 3, Results: 1}) {
		t.Fatalf("discarded %+v", d)
	}
	if _, err := l.Take(ctx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Take after close = %v", err)
	}
	if err := s.Enqueue(ctx(t), &Batch{}, t0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after close = %v", err)
	}
	if _, err := r.Close(s.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}
