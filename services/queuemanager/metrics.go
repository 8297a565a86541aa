package queuemanager

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the queue manager's Prometheus series (docs/design.md,
// Metrics). Hot-path counters are resolved once; queue depths and counts are
// read at scrape time, so they cost nothing per task.
type metrics struct {
	accepted, done, failed, redelivered, dead prometheus.Counter
	duplicates                                prometheus.Counter
	late                                      prometheus.Counter
	latency                                   *batchHistogram
	// schedPass times one pass of the scheduler loop; schedEvents counts
	// the session and worker events its passes handled.
	schedPass   prometheus.Histogram
	schedEvents prometheus.Counter
	// refused counts refusals by the limit that caused them (limits.go).
	refused [numLimits]prometheus.Counter
	// split counts batches split at dispatch; returned, batches a worker
	// gave back unstarted for a hungry one (core/session/dispatch.go).
	split, returned prometheus.Counter
}

// The limits whose refusals are counted, by configuration key.
const (
	limitBatchMessages = iota
	limitMessageBytes
	limitSessions
	limitStreams
	limitFieldBytes
	limitTags
	limitFirstBatch
	limitHealthWatches
	limitTenantStreams
	numLimits
)

var limitKeys = [numLimits]string{"maxBatchMessages", "maxMessageBytes", "maxSessionsPerClient", "maxStreams", "maxFieldBytes", "maxTags", "firstBatchTimeout", "maxHealthWatches", "maxStreamsPerTenant"}

func newMetrics(s *Server, reg prometheus.Registerer) *metrics {
	tasks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "alpcrun_tasks_total",
		Help: "Tasks by outcome: accepted from clients, done, failed (worker error), redelivered, dead (attempts exhausted), duplicate (resubmitted while held, dropped).",
	}, []string{"outcome"})
	m := &metrics{
		accepted:    tasks.WithLabelValues("accepted"),
		done:        tasks.WithLabelValues("done"),
		failed:      tasks.WithLabelValues("failed"),
		redelivered: tasks.WithLabelValues("redelivered"),
		dead:        tasks.WithLabelValues("dead"),
		duplicates:  tasks.WithLabelValues("duplicate"),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alpcrun_late_results_total",
			Help: "Result batches dropped because their batch was already answered or requeued.",
		}),
		latency: newBatchHistogram(prometheus.NewDesc("alpcrun_task_latency_seconds",
			"Time from a task's acceptance to its result being queued for the client.", nil, nil),
			prometheus.ExponentialBuckets(50e-6, 2, 20)),
		schedPass: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "alpcrun_scheduler_pass_seconds",
			Help:    "Time of one scheduler pass: the session and worker events gathered since the last, the policy's decisions and their BIND/UNBIND sends.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 2, 24),
		}),
		schedEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alpcrun_scheduler_events_total",
			Help: "Session and worker events handled by scheduler passes; alpcrun_scheduler_pass_seconds_sum over it is the time per event.",
		}),
	}
	dispatch := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "alpcrun_dispatch_total",
		Help: "Dispatch events that spread work over workers: split (a batch cut at dispatch for more workers), returned (a batch a worker gave back unstarted for an idle one).",
	}, []string{"event"})
	m.split, m.returned = dispatch.WithLabelValues("split"), dispatch.WithLabelValues("returned")
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "alpcrun_refused_total",
		Help: "Requests refused by a limit, by its configuration key.",
	}, []string{"limit"})
	for i, k := range limitKeys {
		m.refused[i] = refused.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(tasks, m.late, m.latency, m.schedPass, m.schedEvents, dispatch, refused, &gauges{s: s})
	}
	return m
}

// observeLatency records one latency for each of n tasks of a batch.
func (m *metrics) observeLatency(d time.Duration, n int) { m.latency.observe(d.Seconds(), n) }

// batchHistogram is a Prometheus histogram that takes the n equal
// observations of a batch's tasks at once: one bucket search and three
// atomic adds per batch, where prometheus.Histogram takes n Observe calls
// (a few percent of the queue manager's CPU per task at batch 100).
type batchHistogram struct {
	desc   *prometheus.Desc
	bounds []float64       // upper bounds, ascending
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64   // float64 bits
}

func newBatchHistogram(desc *prometheus.Desc, bounds []float64) *batchHistogram {
	return &batchHistogram{desc: desc, bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// observe records v n times.
func (h *batchHistogram) observe(v float64, n int) {
	if n <= 0 {
		return
	}
	h.counts[sort.SearchFloat64s(h.bounds, v)].Add(uint64(n)) // le: v <= bound
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v*float64(n))) {
			return
		}
	}
}

func (h *batchHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect reads the buckets once, so that the count is their total even
// while observations land.
func (h *batchHistogram) Collect(ch chan<- prometheus.Metric) {
	bounds, counts := h.cumulative()
	last := len(bounds) - 1
	cum := make(map[float64]uint64, last)
	for i, b := range bounds[:last] {
		cum[b] = counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(h.desc, counts[last], math.Float64frombits(h.sum.Load()), cum)
}

// cumulative returns the upper bounds, +Inf last, and the cumulative count
// of each bucket.
func (h *batchHistogram) cumulative() (bounds []float64, counts []uint64) {
	bounds = append(slices.Clip(h.bounds), math.Inf(1))
	counts = make([]uint64, len(h.counts))
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
		counts[i] = n
	}
	return bounds, counts
}

// gauges is a collector that reads queue depths, sessions and workers at
// scrape time.
type gauges struct{ s *Server }

var (
	depthDesc = prometheus.NewDesc("alpcrun_queue_depth",
		"Batches queued per session and queue (task, result, dead), for the sessionMetrics deepest sessions only.",
		[]string{"session", "queue"}, nil)
	outstandingDesc = prometheus.NewDesc("alpcrun_tasks_outstanding",
		"Tasks accepted and not answered: queued (waiting for a worker) or inflight (sent to a worker). Their sum per worker is the autoscaling signal.",
		[]string{"state"}, nil)
	sessionsDesc = prometheus.NewDesc("alpcrun_sessions", "Open sessions.", nil, nil)
	workersDesc  = prometheus.NewDesc("alpcrun_workers", "Registered workers by reported state.", []string{"state"}, nil)
)

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- outstandingDesc
	ch <- sessionsDesc
	ch <- workersDesc
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	all := g.s.sessions.All()
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(len(all)))
	var queued, inflight int
	for _, sess := range all {
		q, f := sess.Tasks()
		queued += q
		inflight += f
	}
	ch <- prometheus.MustNewConstMetric(outstandingDesc, prometheus.GaugeValue, float64(queued), "queued")
	ch <- prometheus.MustNewConstMetric(outstandingDesc, prometheus.GaugeValue, float64(inflight), "inflight")
	if n := g.s.opts.SessionMetrics; n > 0 {
		type depth struct {
			id                   string
			tasks, results, dead int
		}
		ds := make([]depth, 0, len(all))
		for _, sess := range all {
			t, r, d := sess.Depths()
			ds = append(ds, depth{sess.ID, t, r, d})
		}
		slices.SortFunc(ds, func(a, b depth) int { return cmp.Compare(b.tasks+b.results+b.dead, a.tasks+a.results+a.dead) })
		for _, d := range ds[:min(n, len(ds))] {
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(d.tasks), d.id, "task")
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(d.results), d.id, "result")
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(d.dead), d.id, "dead")
		}
	}
	counts := map[string]int{"idle": 0, "bound": 0, "draining": 0}
	for _, w := range g.s.workers.all() {
		counts[w.stateLabel()]++
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(n), st)
	}
}
