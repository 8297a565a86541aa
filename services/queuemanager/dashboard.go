package queuemanager

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/alpcrun/alpcrun/core/session"
	"github.com/alpcrun/alpcrun/internal/version"
	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
)

// The live dashboard, served on the queue manager's HTTP port (docs/dashboard.md):
//
//	/                 the page: server-rendered, then kept current by web/dashboard.js
//	/api/dashboard    its data as JSON (dashData), polled every second
//	/static/          the page's script and style sheet
//
// Every asset is embedded. History (throughput, latency percentiles, busy
// workers, queued and in-flight tasks) is sampled every second for the
// last five minutes, so the charts are full when the page opens.

//go:embed web
var webFS embed.FS

var pageTmpl = template.Must(template.New("index.html").Funcs(template.FuncMap{
	"pct": func(part, whole int64) float64 {
		if whole <= 0 {
			return 0
		}
		return 100 * float64(part) / float64(whole)
	},
}).ParseFS(webFS, "web/index.html"))

const (
	sampleEvery = time.Second
	historyLen  = 300 // samples kept: five minutes
	// latencyWindow is the samples whose tasks a latency point covers.
	latencyWindow = 10
	// The page shows at most this many sessions (busiest first) and
	// workers (by id); the totals count them all.
	pageSessions = 50
	pageWorkers  = 1024
	// rateSmoothing weighs a worker's last second in its tasks/s.
	rateSmoothing = 0.3
)

// dashboard samples the queue manager for the page's charts.
type dashboard struct {
	s       *Server
	started time.Time
	done    chan struct{} // closed when run returns

	mu struct {
		sync.Mutex
		history []point
		// hists are the latency histogram's cumulative bucket counts at
		// the last latencyWindow+1 samples, oldest first.
		hists [][]uint64
		// lastDone is the tasks done total at the previous sample and
		// workerDone each worker's; rates their smoothed tasks/s.
		lastDone   float64
		lastT      time.Time
		workerDone map[string]int64
		rates      map[string]float64
	}
}

// point is one sample of the history. Latencies are in seconds, -1 when
// no task finished in the window.
type point struct {
	T        int64   `json:"t"` // unix milliseconds
	Rate     float64 `json:"rate"`
	P50      float64 `json:"p50"`
	P90      float64 `json:"p90"`
	P99      float64 `json:"p99"`
	Busy     int     `json:"busy"`
	Workers  int     `json:"workers"`
	Queued   int64   `json:"queued"`
	Inflight int64   `json:"inflight"`
}

func newDashboard(s *Server) *dashboard {
	d := &dashboard{s: s, started: s.now(), done: make(chan struct{})}
	d.mu.workerDone = map[string]int64{}
	d.mu.rates = map[string]float64{}
	return d
}

func (d *dashboard) run(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.sample()
		}
	}
}

// latencyBuckets reads the latency histogram: upper bounds and cumulative
// counts, the last bucket +Inf.
func (s *Server) latencyBuckets() (bounds []float64, counts []uint64) {
	return s.metrics.latency.cumulative()
}

// quantile estimates quantile q of the tasks counted between two readings
// of cumulative bucket counts, interpolating within the bucket (the
// buckets double in width, so this is within a factor of two). It returns
// -1 when no task fell between them.
func quantile(q float64, bounds []float64, from, to []uint64) float64 {
	if len(from) != len(to) || len(to) == 0 {
		return -1
	}
	total := to[len(to)-1] - from[len(from)-1]
	if total == 0 {
		return -1
	}
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for i := range to {
		n := to[i] - from[i]
		if float64(n) >= rank {
			if math.IsInf(bounds[i], 1) {
				return lower // beyond the last finite bound: a lower bound
			}
			frac := (rank - float64(below)) / float64(n-below)
			return lower + frac*(bounds[i]-lower)
		}
		lower, below = bounds[i], n
	}
	return lower
}

func (d *dashboard) sample() {
	s := d.s
	now := s.now()
	done := counterValue(s.metrics.done)
	bounds, counts := s.latencyBuckets()
	ws := s.snapWorkers()
	var queued, inflight int64
	for _, sess := range s.sessions.All() {
		q, f, _ := taskCounts(sess)
		queued += q
		inflight += f
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	p := point{T: now.UnixMilli(), Workers: len(ws), Queued: queued, Inflight: inflight, P50: -1, P90: -1, P99: -1}
	dt := now.Sub(d.mu.lastT).Seconds()
	if !d.mu.lastT.IsZero() && dt > 0 {
		p.Rate = (done - d.mu.lastDone) / dt
	}
	d.mu.hists = append(d.mu.hists, counts)
	if len(d.mu.hists) > latencyWindow+1 {
		d.mu.hists = d.mu.hists[1:]
	}
	if len(d.mu.hists) > 1 {
		from := d.mu.hists[0]
		p.P50, p.P90, p.P99 = quantile(0.5, bounds, from, counts), quantile(0.9, bounds, from, counts), quantile(0.99, bounds, from, counts)
	}
	workerDone := make(map[string]int64, len(ws))
	rates := make(map[string]float64, len(ws))
	for _, w := range ws {
		if w.inflight > 0 {
			p.Busy++
		}
		workerDone[w.w.id] = w.tasksDone
		if prev, ok := d.mu.workerDone[w.w.id]; ok && dt > 0 {
			r := float64(w.tasksDone-prev) / dt
			rates[w.w.id] = rateSmoothing*r + (1-rateSmoothing)*d.mu.rates[w.w.id]
		}
	}
	d.mu.workerDone, d.mu.rates = workerDone, rates
	d.mu.lastDone, d.mu.lastT = done, now
	d.mu.history = append(d.mu.history, p)
	if len(d.mu.history) > historyLen {
		d.mu.history = slices.Delete(d.mu.history, 0, len(d.mu.history)-historyLen)
	}
}

// dashData is the page's data: the JSON of /api/dashboard and what the
// template renders.
type dashData struct {
	Now       int64  `json:"now"` // unix milliseconds
	Version   string `json:"version"`
	Started   int64  `json:"started"`
	Scheduler string `json:"scheduler"`
	QueueType string `json:"queueType"`

	Totals struct {
		Sessions int   `json:"sessions"`
		Accepted int64 `json:"accepted"`
		Done     int64 `json:"done"`
		Dead     int64 `json:"dead"`
		Queued   int64 `json:"queued"`
		Inflight int64 `json:"inflight"`
	} `json:"totals"`
	Sessions []dashSession `json:"sessions"`
	// WorkersByState counts idle, bound and draining workers.
	WorkersByState map[string]int `json:"workersByState"`
	Workers        []dashWorker   `json:"workers"`
	WorkerCount    int            `json:"workerCount"`
	History        []point        `json:"history"`
}

type dashSession struct {
	ID       string `json:"id"`
	App      string `json:"app"`
	Client   string `json:"client"`
	Priority uint32 `json:"priority"`
	Workers  int    `json:"workers"`
	Accepted int64  `json:"accepted"`
	Queued   int64  `json:"queued"`
	Inflight int64  `json:"inflight"`
	Done     int64  `json:"done"`
	Dead     int64  `json:"dead"`
	AgeMs    int64  `json:"ageMs"`
	IdleMs   int64  `json:"idleMs"`
	Idle     bool   `json:"idle"`
	Attached bool   `json:"attached"`
}

type dashWorker struct {
	ID       string `json:"id"`
	Node     string `json:"node"`
	Pod      string `json:"pod"`
	State    string `json:"state"`
	Session  string `json:"session"`
	Inflight int    `json:"inflight"`
	// MaxInflight is its session's max_inflight_batches_per_worker.
	MaxInflight uint32  `json:"maxInflight"`
	Done        int64   `json:"done"`
	Rate        float64 `json:"rate"`
	// SinceHeartbeatMs is the time since the worker's last heartbeat.
	SinceHeartbeatMs int64 `json:"sinceHeartbeatMs"`
}

// data gathers the page's data now.
func (d *dashboard) data() dashData {
	s := d.s
	now := s.now()
	v := version.Get()
	out := dashData{Now: now.UnixMilli(), Version: v.String(), Started: d.started.UnixMilli(),
		Scheduler: string(s.opts.Scheduler), QueueType: string(s.opts.QueueType),
		WorkersByState: map[string]int{"idle": 0, "bound": 0, "draining": 0},
		// Empty lists, not null, for the page.
		Sessions: []dashSession{}, Workers: []dashWorker{}}
	ws := s.snapWorkers()
	bound := boundWorkers(ws)
	// Totals over every session from its counters; rows only for the
	// busiest (then newest) pageSessions.
	type ranked struct {
		sess    *session.Session
		pending int64
	}
	all := s.sessions.All()
	rs := make([]ranked, 0, len(all))
	limits := map[string]uint32{}
	for _, sess := range all {
		q, f, _ := taskCounts(sess)
		c := sess.Counts()
		out.Totals.Sessions++
		out.Totals.Accepted += c.Accepted.Load()
		out.Totals.Done += c.Done.Load()
		out.Totals.Dead += c.Dead.Load()
		out.Totals.Queued += q
		out.Totals.Inflight += f
		if len(bound[sess.ID]) > 0 {
			limits[sess.ID] = sess.Attributes().MaxInflight
		}
		rs = append(rs, ranked{sess, q + f})
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := cmp.Compare(b.pending, a.pending); c != 0 {
			return c
		}
		return b.sess.Created().Compare(a.sess.Created())
	})
	for _, r := range rs[:min(len(rs), pageSessions)] {
		info := s.sessionInfo(r.sess, bound, now)
		a := info.Session.GetAttributes()
		out.Sessions = append(out.Sessions, dashSession{ID: r.sess.ID, App: r.sess.AppID, Client: a.GetClientId(),
			Priority: a.GetPriority(), Workers: len(info.Workers), Accepted: int64(info.TasksAccepted),
			Queued: int64(info.TasksQueued), Inflight: int64(info.TasksInflight), Done: int64(info.TasksDone),
			Dead: int64(info.TasksDead), AgeMs: now.Sub(r.sess.Created()).Milliseconds(),
			IdleMs: info.IdleFor.AsDuration().Milliseconds(), Idle: info.Idle, Attached: info.Attached})
	}

	d.mu.Lock()
	rates := d.mu.rates
	out.History = append([]point{}, d.mu.history...)
	d.mu.Unlock()
	out.WorkerCount = len(ws)
	for i, w := range ws {
		state := map[pb.WorkerState_State]string{pb.WorkerState_IDLE: "idle", pb.WorkerState_BOUND: "bound", pb.WorkerState_DRAINING: "draining"}[w.state]
		out.WorkersByState[state]++
		if i < pageWorkers {
			out.Workers = append(out.Workers, dashWorker{ID: w.w.id, Node: w.w.node, Pod: w.w.pod, State: state,
				Session: w.session, Inflight: w.inflight, MaxInflight: limits[w.session], Done: w.tasksDone, Rate: round(rates[w.w.id]),
				SinceHeartbeatMs: now.Sub(w.lastSeen).Milliseconds()})
		}
	}
	return out
}

func round(x float64) float64 { return math.Round(x*10) / 10 }

// HTTPHandlers returns the dashboard's handlers by mux pattern, for the
// HTTP side to mount behind its API key check.
func (s *Server) HTTPHandlers() map[string]http.Handler {
	static, _ := fs.Sub(webFS, "web/static")
	return map[string]http.Handler{
		"GET /{$}": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if err := pageTmpl.Execute(w, s.dash.data()); err != nil {
				s.log.Warn("dashboard page", "err", err)
			}
		}),
		"GET /api/dashboard": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_ = json.NewEncoder(w).Encode(s.dash.data())
		}),
		"GET /static/": http.StripPrefix("/static/", http.FileServerFS(static)),
	}
}
