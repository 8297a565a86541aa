package queuemanager

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// batchHistogram exposes what prometheus.Histogram does for the same
// observations, a batch's n at once.
func TestBatchHistogramMatchesPrometheus(t *testing.T) {
	bounds := prometheus.ExponentialBuckets(50e-6, 2, 20)
	want := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Buckets: bounds})
	got := newBatchHistogram(prometheus.NewDesc("h", "", nil, nil), bounds)
	for i, v := range []float64{0, 50e-6, 51e-6, 1e-3, 0.2, 26.3, 27, 1e6} {
		n := i + 1
		for range n {
			want.Observe(v)
		}
		got.observe(v, n)
	}
	got.observe(1, 0)
	read := func(c prometheus.Collector) *dto.Histogram {
		ch := make(chan prometheus.Metric, 1)
		c.Collect(ch)
		var m dto.Metric
		if err := (<-ch).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram()
	}
	w, g := read(want), read(got)
	if w.GetSampleCount() != g.GetSampleCount() || math.Abs(w.GetSampleSum()-g.GetSampleSum()) > 1e-9*w.GetSampleSum() {
		t.Fatalf("count, sum: got %d, %g; want %d, %g", g.GetSampleCount(), g.GetSampleSum(), w.GetSampleCount(), w.GetSampleSum())
	}
	if len(w.GetBucket()) != len(g.GetBucket()) {
		t.Fatalf("got %d buckets, want %d", len(g.GetBucket()), len(w.GetBucket()))
	}
	for i, b := range w.GetBucket() {
		if gb := g.GetBucket()[i]; gb.GetUpperBound() != b.GetUpperBound() || gb.GetCumulativeCount() != b.GetCumulativeCount() {
			t.Fatalf("bucket %d: got le %g count %d, want le %g count %d", i, gb.GetUpperBound(), gb.GetCumulativeCount(), b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
	bs, cs := got.cumulative()
	if !math.IsInf(bs[len(bs)-1], 1) || cs[len(cs)-1] != g.GetSampleCount() {
		t.Fatalf("cumulative ends at le %g count %d, want +Inf %d", bs[len(bs)-1], cs[len(cs)-1], g.GetSampleCount())
	}
}
