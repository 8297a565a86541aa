package stats

import (
	"testing"
	"time"
)

// within reports whether got is within the histogram's 0.1% precision of want.
func within(got, want time.Duration) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff <= want/1000+1
}

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	if h.Count() != 1000 {
		t.Fatalf("Count = %d, want 1000", h.Count())
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Microsecond},
		{0.5, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{1, 1000 * time.Microsecond},
	} {
		if got := h.Quantile(c.q); !within(got, c.want) {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got, want := h.Mean(), 500500*time.Nanosecond; !within(got, want) {
		t.Errorf("Mean = %v, want %v", got, want)
	}
	if got := h.Min(); !within(got, time.Microsecond) {
		t.Errorf("Min = %v, want 1µs", got)
	}
	if got := h.Max(); !within(got, time.Millisecond) {
		t.Errorf("Max = %v, want 1ms", got)
	}
}

func TestHistogramEmpty(t *testing.T) {
	h := NewHistogram()
	if h.Count() != 0 || h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Min() != 0 || h.Max() != 0 {
		t.Fatalf("empty histogram: count=%d p99=%v mean=%v min=%v max=%v",
			h.Count(), h.Quantile(0.99), h.Mean(), h.Min(), h.Max())
	}
}

func TestHistogramClampsOutOfRange(t *testing.T) {
	h := NewHistogram()
	h.Record(-time.Second)
	h.Record(time.Hour)
	if h.Count() != 2 {
		t.Fatalf("Count = %d, want 2", h.Count())
	}
	if got := h.Quantile(0); got != 0 {
		t.Errorf("negative duration recorded as %v, want 0", got)
	}
	if got := h.Quantile(1); !within(got, MaxValue) {
		t.Errorf("hour recorded as %v, want %v", got, MaxValue)
	}
}

func TestHistogramMergeAndReset(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	for range 90 {
		a.Record(time.Millisecond)
	}
	for range 10 {
		b.Record(time.Second)
	}
	a.Merge(b)
	if a.Count() != 100 || b.Count() != 10 {
		t.Fatalf("after merge: a.Count = %d, b.Count = %d, want 100 and 10", a.Count(), b.Count())
	}
	if got := a.Quantile(0.9); !within(got, time.Millisecond) {
		t.Errorf("p90 = %v, want 1ms", got)
	}
	if got := a.Quantile(0.91); !within(got, time.Second) {
		t.Errorf("p91 = %v, want 1s", got)
	}
	a.Reset()
	if a.Count() != 0 || a.Quantile(0.5) != 0 {
		t.Fatalf("after reset: Count = %d, p50 = %v", a.Count(), a.Quantile(0.5))
	}
	a.Record(time.Microsecond)
	if got := a.Quantile(1); !within(got, time.Microsecond) {
		t.Errorf("after reset and record: p100 = %v, want 1µs", got)
	}
}
