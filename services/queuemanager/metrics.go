package queuemanager

import (
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
	latency                                   prometheus.Histogram
	// schedPass times one pass of the scheduler loop; schedEvents counts
	// the session and worker events its passes handled.
	schedPass   prometheus.Histogram
	schedEvents prometheus.Counter
	// refused counts refusals by the limit that caused them (limits.go).
	refused [numLimits]prometheus.Counter
}

// The limits whose refusals are counted, by configuration key.
const (
	limitBatchMessages = iota
	limitMessageBytes
	limitSessions
	limitStreams
	numLimits
)

var limitKeys = [numLimits]string{"maxBatchMessages", "maxMessageBytes", "maxSessionsPerClient", "maxStreams"}

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
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "alpcrun_task_latency_seconds",
			Help:    "Time from a task's acceptance to its result being queued for the client.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 20),
		}),
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
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "alpcrun_refused_total",
		Help: "Requests refused by a limit, by its configuration key.",
	}, []string{"limit"})
	for i, k := range limitKeys {
		m.refused[i] = refused.WithLabelValues(k)
	}
	if reg != nil {
		reg.MustRegister(tasks, m.late, m.latency, m.schedPass, m.schedEvents, refused, &gauges{s: s})
	}
	return m
}

// observeLatency records one latency for each of n tasks of a batch.
func (m *metrics) observeLatency(d time.Duration, n int) {
	v := d.Seconds()
	for range n {
		m.latency.Observe(v)
	}
}

// gauges is a collector that reads queue depths, sessions and workers at
// scrape time.
type gauges struct{ s *Server }

var (
	depthDesc = prometheus.NewDesc("alpcrun_queue_depth",
		"Batches queued per session and queue (task, result, dead); the autoscaling signal.",
		[]string{"session", "queue"}, nil)
	sessionsDesc = prometheus.NewDesc("alpcrun_sessions", "Open sessions.", nil, nil)
	workersDesc  = prometheus.NewDesc("alpcrun_workers", "Registered workers by reported state.", []string{"state"}, nil)
)

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- sessionsDesc
	ch <- workersDesc
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	all := g.s.sessions.All()
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(len(all)))
	for _, sess := range all {
		tasks, results, dead := sess.Depths()
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(tasks), sess.ID, "task")
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(results), sess.ID, "result")
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(dead), sess.ID, "dead")
	}
	counts := map[string]int{"idle": 0, "bound": 0, "draining": 0}
	for _, w := range g.s.workers.all() {
		counts[w.stateLabel()]++
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(n), st)
	}
}
