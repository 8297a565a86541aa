package stats

import (
	"testing"
	"time"
)

// BenchmarkHistogramRecord measures the per-observation cost on the hot path.
//
//	go test -run '^$' -bench BenchmarkHistogramRecord -count 10 ./core/stats/
func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xfffff) * time.Nanosecond)
	}
	b.StopTimer()
	if h.Count() != int64(b.N) {
		b.Fatalf("recorded %d values, want %d", h.Count(), b.N)
	}
}
