package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/alpcrun/alpcrun/core/scheduler"
	"github.com/alpcrun/alpcrun/core/stats"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// ScaleConfig is a scale run.
type ScaleConfig struct {
	Sessions, Workers int
	// Parallel is how many goroutines create sessions and submit tasks.
	Parallel int
	// Events is the number of scheduler events timed in the replay.
	Events int
	// MaxDecisionP99 bounds the p99 of the scheduler's time per event.
	MaxDecisionP99 time.Duration
	// Timeout bounds each wait on the queue manager.
	Timeout  time.Duration
	Progress io.Writer
}

// DefaultScaleConfig is make scale's run.
func DefaultScaleConfig() ScaleConfig {
	return ScaleConfig{Sessions: 10000, Workers: 1000, Parallel: 8, Events: 200000,
		MaxDecisionP99: time.Millisecond, Timeout: 90 * time.Second}
}

// Validate reports every bad field.
func (c *ScaleConfig) Validate() error {
	var errs []error
	bad := func(cond bool, format string, args ...any) {
		if cond {
			errs = append(errs, fmt.Errorf("soak: "+format, args...))
		}
	}
	bad(c.Sessions < 1, "sessions must be at least 1, got %d", c.Sessions)
	bad(c.Workers < 1, "workers must be at least 1, got %d", c.Workers)
	bad(c.Parallel < 1, "parallel must be at least 1, got %d", c.Parallel)
	bad(c.Events < 1, "events must be at least 1, got %d", c.Events)
	bad(c.MaxDecisionP99 <= 0, "max decision p99 must be positive, got %v", c.MaxDecisionP99)
	bad(c.Timeout <= 0, "timeout must be positive, got %v", c.Timeout)
	return errors.Join(errs...)
}

// Mem is a memory cost per item: the change of the queue manager's RSS,
// HeapAlloc and StackInuse (after a forced GC and scavenge) divided by the
// item count. HeapAlloc counts allocated bytes, resident or not (a large
// buffer never written to is not), so it can exceed the RSS change;
// goroutine stacks are in StackInuse, not in HeapAlloc.
type Mem struct{ RSS, Heap, Stack float64 }

func perItem(from, to Snapshot, n int) Mem {
	d := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	return Mem{RSS: float64(to.RSS-from.RSS) / float64(n), Heap: d(from.HeapAlloc, to.HeapAlloc), Stack: d(from.StackInuse, to.StackInuse)}
}

// ScaleReport is a scale run's outcome.
type ScaleReport struct {
	Sessions, Workers int
	// Base, WithWorkers, WithSessions and AfterRound are the queue
	// manager's snapshots (after GC) when idle, with the workers
	// registered, with the sessions created too, and after one task per
	// session went round.
	Base, WithWorkers, WithSessions, AfterRound Snapshot
	// PerWorker and PerSession (created; UsedSession after the round) are
	// the memory costs.
	PerWorker, PerSession, PerUsedSession Mem
	// Round is the wall time for one task per session, submitted at once,
	// to come back; RoundP50 and RoundP99 the per-task times, which
	// include waiting for a worker (Sessions/Workers rounds of binding).
	Round, RoundP50, RoundP99 time.Duration
	// Decision* is the core/scheduler replay at Sessions x Workers: time
	// per event including the decisions it returns.
	Events                                int
	Decisions                             int
	DecisionP50, DecisionP99, DecisionMax time.Duration
	MaxDecisionP99                        time.Duration
	Errors                                []string
}

// Failures lists why the run failed.
func (r *ScaleReport) Failures() []string {
	f := append([]string(nil), r.Errors...)
	if r.DecisionP99 >= r.MaxDecisionP99 {
		f = append(f, fmt.Sprintf("scheduler p99 per event %v, not below %v", r.DecisionP99, r.MaxDecisionP99))
	}
	return f
}

// Write prints the figures.
func (r *ScaleReport) Write(w io.Writer) {
	fmt.Fprintf(w, "scale: queue manager RSS %s idle, %s with %d workers, %s with %d sessions, %s after a round\n",
		mib(r.Base.RSS), mib(r.WithWorkers.RSS), r.Workers, mib(r.WithSessions.RSS), r.Sessions, mib(r.AfterRound.RSS))
	for _, m := range []struct {
		what string
		m    Mem
		note string
	}{
		{"worker ", r.PerWorker, fmt.Sprintf("goroutines %d -> %d", r.Base.Goroutines, r.WithWorkers.Goroutines)},
		{"session", r.PerSession, fmt.Sprintf("created, stream open; goroutines -> %d", r.WithSessions.Goroutines)},
		{"session", r.PerUsedSession, "after one task each"},
	} {
		fmt.Fprintf(w, "scale: per %s  %6.1f KiB RSS  %6.1f KiB heap  %6.1f KiB stacks  (%s)\n",
			m.what, m.m.RSS/1024, m.m.Heap/1024, m.m.Stack/1024, m.note)
	}
	fmt.Fprintf(w, "scale: one task per session over %d workers: %v wall, per task p50 %v p99 %v\n",
		r.Workers, r.Round.Round(time.Millisecond), r.RoundP50.Round(time.Microsecond), r.RoundP99.Round(time.Microsecond))
	if q := r.AfterRound.Sched; q.Passes > 0 {
		fmt.Fprintf(w, "scale: queue manager's scheduler loop (alpcrun_scheduler_pass_seconds): %d passes over %.0f events, %v per event, p99 pass <= %v\n",
			q.Passes, q.Events, q.PerEvent(), time.Duration(q.P99Le*float64(time.Second)))
	}
	fmt.Fprintf(w, "scale: scheduler per event (%d events, %d decisions, %d sessions x %d workers): p50 %v p99 %v max %v (limit p99 < %v)\n",
		r.Events, r.Decisions, r.Sessions, r.Workers, r.DecisionP50, r.DecisionP99, r.DecisionMax, r.MaxDecisionP99)
	if f := r.Failures(); len(f) > 0 {
		for _, s := range f {
			fmt.Fprintf(w, "scale: FAIL: %s\n", s)
		}
		return
	}
	fmt.Fprintln(w, "scale: PASS")
}

// RunScale registers cfg.Workers workers and cfg.Sessions sessions on qm
// over gRPC, measures the memory each costs, sends one task through every
// session, and times the scheduler at that size.
func RunScale(ctx context.Context, qm *QM, cfg ScaleConfig) (*ScaleReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &ScaleReport{Sessions: cfg.Sessions, Workers: cfg.Workers, MaxDecisionP99: cfg.MaxDecisionP99}
	var err error
	if r.Base, err = qm.Snapshot(ctx, true); err != nil {
		return nil, err
	}

	begin := time.Now()
	pool := newPool(qm.Addr)
	defer pool.stop()
	for range cfg.Workers {
		pool.add(ctx)
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if _, err := qm.WaitFor(wctx, fmt.Sprint(cfg.Workers, " workers"), func(s Snapshot) bool {
		return int(s.Workers["idle"]+s.Workers["bound"]) >= cfg.Workers
	}); err != nil {
		return nil, err
	}
	if r.WithWorkers, err = qm.Snapshot(ctx, true); err != nil {
		return nil, err
	}
	r.PerWorker = perItem(r.Base, r.WithWorkers, cfg.Workers)
	progress(cfg.Progress, "scale: %d workers registered in %v, RSS %s", cfg.Workers, time.Since(begin).Round(time.Millisecond), mib(r.WithWorkers.RSS))

	begin = time.Now()
	c, err := client.Dial(ctx, qm.Addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rt := newRoundTracker(cfg.Sessions)
	sessions := make([]*client.Session, cfg.Sessions)
	err = parallel(ctx, cfg.Parallel, cfg.Sessions, func(i int) error {
		s, err := c.CreateSession(ctx, client.SessionOptions{AppID: "scale", OnResult: rt.onResult})
		sessions[i] = s
		return err
	})
	if err != nil {
		return nil, err
	}
	wctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if _, err := qm.WaitFor(wctx, fmt.Sprint(cfg.Sessions, " sessions"), func(s Snapshot) bool {
		return int(s.Sessions) >= cfg.Sessions
	}); err != nil {
		return nil, err
	}
	if r.WithSessions, err = qm.Snapshot(ctx, true); err != nil {
		return nil, err
	}
	r.PerSession = perItem(r.WithWorkers, r.WithSessions, cfg.Sessions)
	progress(cfg.Progress, "scale: %d sessions created in %v, RSS %s", cfg.Sessions, time.Since(begin).Round(time.Millisecond), mib(r.WithSessions.RSS))

	begin = time.Now()
	payload := make([]byte, 64)
	err = parallel(ctx, cfg.Parallel, cfg.Sessions, func(i int) error {
		rt.submitted(i)
		return sessions[i].Submit(ctx, strconv.Itoa(i), payload)
	})
	if err != nil {
		return nil, err
	}
	wctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := rt.wait(wctx); err != nil {
		return nil, err
	}
	r.Round = time.Since(begin)
	r.RoundP50, r.RoundP99 = rt.quantiles()
	if r.AfterRound, err = qm.Snapshot(ctx, true); err != nil {
		return nil, err
	}
	r.PerUsedSession = perItem(r.WithWorkers, r.AfterRound, cfg.Sessions)
	if dead := r.AfterRound.Tasks["dead"] + r.AfterRound.Tasks["failed"]; dead != 0 {
		r.Errors = append(r.Errors, fmt.Sprintf("%.0f tasks dead or failed", dead))
	}
	progress(cfg.Progress, "scale: one task per session answered in %v", r.Round.Round(time.Millisecond))

	begin = time.Now()
	if err := replay(cfg, r); err != nil {
		return nil, err
	}
	progress(cfg.Progress, "scale: scheduler replay of %d events in %v", r.Events, time.Since(begin).Round(time.Millisecond))
	_, _, errs := pool.counts()
	r.Errors = append(r.Errors, errs...)
	return r, nil
}

// parallel runs fn(0..n-1) on k goroutines and returns the first error.
func parallel(ctx context.Context, k, n int, fn func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// roundTracker times one task per session, its id the session's index.
type roundTracker struct {
	all chan struct{} // closed when every session has its result
	mu  struct {
		sync.Mutex
		sent    []time.Time
		got     []bool
		left    int
		hist    *stats.Histogram
		invalid int
	}
}

func newRoundTracker(n int) *roundTracker {
	t := &roundTracker{all: make(chan struct{})}
	t.mu.sent, t.mu.got, t.mu.left, t.mu.hist = make([]time.Time, n), make([]bool, n), n, stats.NewHistogram()
	return t
}

func (t *roundTracker) submitted(i int) {
	t.mu.Lock()
	t.mu.sent[i] = time.Now()
	t.mu.Unlock()
}

func (t *roundTracker) onResult(res client.Result) {
	now := time.Now()
	i, err := strconv.Atoi(res.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil || i < 0 || i >= len(t.mu.got) || t.mu.got[i] {
		t.mu.invalid++
		return
	}
	t.mu.got[i] = true
	t.mu.hist.Record(now.Sub(t.mu.sent[i]))
	if t.mu.left--; t.mu.left == 0 {
		close(t.all)
	}
}

func (t *roundTracker) wait(ctx context.Context) error {
	select {
	case <-t.all:
	case <-ctx.Done():
		t.mu.Lock()
		defer t.mu.Unlock()
		return fmt.Errorf("soak: %d of %d sessions still without their result: %w", t.mu.left, len(t.mu.got), ctx.Err())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.invalid != 0 {
		return fmt.Errorf("soak: %d unexpected or duplicate results", t.mu.invalid)
	}
	return nil
}

func (t *roundTracker) quantiles() (p50, p99 time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.hist.Quantile(0.5), t.mu.hist.Quantile(0.99)
}

// replay drives a core/scheduler holding cfg.Sessions sessions and
// cfg.Workers workers, with the queue manager's default policy, through
// cfg.Events events of the kinds the queue manager reports (tasks arrive or
// drain, sessions go idle and come back, close and open, workers leave and
// join, unbound workers report idle) and times each call, decisions
// included: the policy's own time per event, where the queue manager's
// alpcrun_scheduler_pass_seconds (also reported) adds its bookkeeping and
// the BIND/UNBIND sends of a whole pass.
func replay(cfg ScaleConfig, r *ScaleReport) error {
	sc, err := scheduler.New(scheduler.DefaultPolicy, scheduler.Options{})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	h := stats.NewHistogram()
	var unbinding []string
	timed := func(call func() ([]scheduler.Decision, error)) error {
		t0 := time.Now()
		ds, err := call()
		h.Record(time.Since(t0))
		if err != nil {
			return err
		}
		r.Events++
		r.Decisions += len(ds)
		for _, d := range ds {
			if d.Action == scheduler.Unbind {
				unbinding = append(unbinding, d.Worker)
			}
		}
		return nil
	}
	sessions := make([]string, cfg.Sessions)
	params := func() scheduler.SessionParams {
		return scheduler.SessionParams{Priority: rng.IntN(scheduler.MaxPriority + 1), MinWorkers: rng.IntN(2)}
	}
	nextID := 0
	newID := func(prefix string) string { nextID++; return prefix + strconv.Itoa(nextID) }
	for i := range sessions {
		sessions[i] = newID("s")
		if err := timed(func() ([]scheduler.Decision, error) { return nil, sc.AddSession(sessions[i], params()) }); err != nil {
			return err
		}
	}
	workers := make([]string, cfg.Workers)
	for i := range workers {
		workers[i] = newID("w")
		if err := timed(func() ([]scheduler.Decision, error) { return sc.AddWorker(workers[i]) }); err != nil {
			return err
		}
	}
	gone := map[string]bool{}
	idle := make([]bool, cfg.Sessions)
	for r.Events < cfg.Events {
		// Unbound workers report idle first, as their streams end.
		if len(unbinding) > 0 {
			w := unbinding[0]
			unbinding = unbinding[1:]
			if gone[w] {
				continue
			}
			if err := timed(func() ([]scheduler.Decision, error) { return sc.WorkerIdle(w) }); err != nil {
				return err
			}
			continue
		}
		i := rng.IntN(cfg.Sessions)
		var err error
		switch k := rng.IntN(10); {
		case k < 5:
			err = timed(func() ([]scheduler.Decision, error) {
				return sc.SetWork(sessions[i], scheduler.Work{Waiting: rng.IntN(20)})
			})
		case k < 7:
			idle[i] = !idle[i]
			err = timed(func() ([]scheduler.Decision, error) { return sc.SetIdle(sessions[i], idle[i]) })
		case k < 8:
			err = timed(func() ([]scheduler.Decision, error) { return sc.RemoveSession(sessions[i]) })
			if err == nil {
				sessions[i], idle[i] = newID("s"), false
				err = timed(func() ([]scheduler.Decision, error) { return nil, sc.AddSession(sessions[i], params()) })
			}
		default:
			j := rng.IntN(cfg.Workers)
			gone[workers[j]] = true
			err = timed(func() ([]scheduler.Decision, error) { return sc.RemoveWorker(workers[j]) })
			if err == nil {
				workers[j] = newID("w")
				err = timed(func() ([]scheduler.Decision, error) { return sc.AddWorker(workers[j]) })
			}
		}
		if err != nil {
			return err
		}
	}
	r.DecisionP50, r.DecisionP99, r.DecisionMax = h.Quantile(0.5), h.Quantile(0.99), h.Max()
	return nil
}
