package session

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
)

func idsOf(names ...string) (int, func(int) string) {
	return len(names), func(i int) string { return names[i] }
}

func TestHoldRelease(t *testing.T) {
	s := &Session{}
	if d := s.Hold(idsOf("a", "b", "c")); d != nil {
		t.Fatalf("first hold dups %v", d)
	}
	if d := s.Hold(idsOf("x", "b", "y", "a")); !slices.Equal(d, []int{1, 3}) {
		t.Fatalf("dups %v, want [1 3]", d)
	}
	s.Release(idsOf("a", "b"))
	if d := s.Hold(idsOf("a", "c")); !slices.Equal(d, []int{1}) {
		t.Fatalf("after release dups %v, want [1]", d)
	}
	if n := s.Held(); n != 4 { // a c x y; b released
		t.Fatalf("held %d, want 4", n)
	}
}

// BenchmarkHoldRelease is the queue manager's per-task cost of dedupe: one
// Hold when a batch arrives and one Release when its results are sent,
// with held ids in flight as at 4 workers x 64 batches of 100 tasks (a few
// thousand) and of 1000 (64k, far past the caches).
func BenchmarkHoldRelease(b *testing.B) {
	for _, c := range []struct{ size, window int }{{1, 1 << 10}, {100, 1 << 12}, {1000, 1 << 16}} {
		b.Run(fmt.Sprintf("batch=%d/held=%d", c.size, c.window), func(b *testing.B) {
			s := &Session{}
			ids := make([]string, max(4096*c.size, 4*c.window))
			for i := range ids {
				ids[i] = "task-" + strconv.Itoa(i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				hold := ids[(i*c.size)%len(ids):][:c.size]
				s.Hold(len(hold), func(j int) string { return hold[j] })
				if i >= c.window/c.size {
					old := ids[((i-c.window/c.size)*c.size)%len(ids):][:c.size]
					s.Release(len(old), func(j int) string { return old[j] })
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.size), "ns/task")
		})
	}
}

// A resubmission that arrives while the answer to its id is being written
// (the old stream dead, the write not yet failed) is dropped as held; Sent
// must then keep the id and hand it back, or the task would be lost.
func TestResubmittedDuringSend(t *testing.T) {
	s := &Session{}
	s.Hold(idsOf("a", "b", "c"))
	n, id := idsOf("a", "b")
	a := &Answer{N: n, ID: id}
	s.Sending(a)
	if d := s.Hold(idsOf("b", "x")); !slices.Equal(d, []int{0}) {
		t.Fatalf("dups %v, want [0]", d)
	}
	if r := s.Sent(a); !slices.Equal(r, []int{1}) {
		t.Fatalf("resent %v, want [1] (b)", r)
	}
	if d := s.Hold(idsOf("a", "b")); !slices.Equal(d, []int{1}) {
		t.Fatalf("after Sent dups %v, want [1]: a released, b still held", d)
	}
	// A failed write keeps every id; a later resubmission is not noted
	// against the finished write, and the answer can be registered again.
	a.N, a.ID = idsOf("c")
	s.Sending(a)
	s.Unsent(a)
	if d := s.Hold(idsOf("c")); !slices.Equal(d, []int{0}) {
		t.Fatalf("after Unsent dups %v, want [0]", d)
	}
	if r := s.Sent(a); r != nil {
		t.Fatalf("Sent after Unsent %v, want nil", r)
	}
	s.Sending(a)
	if r := s.Sent(a); r != nil {
		t.Fatalf("a clean write resent %v", r)
	}
	if d := s.Hold(idsOf("c")); d != nil {
		t.Fatalf("c still held after its answer was written: dups %v", d)
	}
}
