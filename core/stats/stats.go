// Package stats records latency distributions for the services, the
// benchmarks and the load generator.
//
// A Histogram is an HDR histogram of durations in nanoseconds, from 1ns to
// one minute with three significant digits (any value is stored within 0.1%
// of its true value). It is not safe for concurrent use, by design: each
// goroutine records into its own Histogram, without locks or atomics on the
// hot path, and the owner merges them when it reports.
package stats

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// MaxValue is the largest duration a Histogram tells apart; longer ones are
// recorded as MaxValue so that a stalled request still counts.
const MaxValue = time.Minute

// Histogram is a latency histogram. The zero value is not usable: call
// NewHistogram. Not safe for concurrent use.
type Histogram struct {
	h *hdrhistogram.Histogram
}

// NewHistogram returns an empty histogram covering 1ns to MaxValue with 3
// significant digits.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(1, int64(MaxValue), 3)}
}

// Record adds one observation. Negative durations count as 0 and durations
// above MaxValue as MaxValue, so Record never fails and Count always equals
// the number of calls.
func (h *Histogram) Record(d time.Duration) {
	// The value is clamped into range, so RecordValue cannot fail.
	_ = h.h.RecordValue(int64(min(max(d, 0), MaxValue)))
}

// Merge adds every observation of other to h. other is not modified. Both
// histograms come from NewHistogram, so nothing is dropped.
func (h *Histogram) Merge(other *Histogram) {
	h.h.Merge(other.h)
}

// Quantile returns the value at quantile q, where q is a fraction in [0, 1]
// (0.5 is the median, 0.99 the 99th percentile). It returns 0 when the
// histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	return time.Duration(h.h.ValueAtQuantile(q * 100))
}

// Count returns the number of recorded observations.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Mean returns the mean of the recorded observations, 0 when empty.
func (h *Histogram) Mean() time.Duration { return time.Duration(h.h.Mean()) }

// Min returns the smallest recorded observation, 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.h.Min()) }

// Max returns the largest recorded observation, 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.h.Max()) }

// Reset discards every observation, keeping the allocated buckets.
func (h *Histogram) Reset() { h.h.Reset() }
