package cachewire

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a cache tier's Prometheus series (docs/design.md, Metrics),
// the same for the central and the node cache: a Get counter per result,
// resolved once so that the hot path adds to a counter and nothing else, and
// the entries and bytes held, read at scrape time. The tier is a constant label, so that a central and a
// node cache can share one registry.
type Metrics struct {
	// Hit counts the Gets this tier answered, Miss the others.
	Hit, Miss prometheus.Counter
}

// NewMetrics registers a tier's series on reg (none when nil); stats
// reports the entries and bytes held.
func NewMetrics(tier string, stats func() (int, int64), reg prometheus.Registerer) *Metrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "alpcrun_cache_requests_total",
		Help:        "GetSharedData calls by result: hit (answered by this tier) or miss.",
		ConstLabels: prometheus.Labels{"tier": tier},
	}, []string{"result"})
	m := &Metrics{Hit: requests.WithLabelValues("hit"), Miss: requests.WithLabelValues("miss")}
	if reg != nil {
		reg.MustRegister(requests, &gauges{
			stats: stats,
			bytes: prometheus.NewDesc("alpcrun_cache_bytes",
				"Bytes of shared data held (a node cache counts them as against cacheSize: payload, session id and overhead).",
				nil, prometheus.Labels{"tier": tier}),
			entries: prometheus.NewDesc("alpcrun_cache_entries",
				"Shared-data entries held (a node cache holds one per session and level).",
				nil, prometheus.Labels{"tier": tier}),
		})
	}
	return m
}

// gauges reads the entries and bytes at scrape time.
type gauges struct {
	stats          func() (int, int64)
	bytes, entries *prometheus.Desc
}

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.bytes
	ch <- g.entries
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	n, b := g.stats()
	ch <- prometheus.MustNewConstMetric(g.bytes, prometheus.GaugeValue, float64(b))
	ch <- prometheus.MustNewConstMetric(g.entries, prometheus.GaugeValue, float64(n))
}
