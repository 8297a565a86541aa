package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/alpcrun/alpcrun/core/stats"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// Config is a soak run.
type Config struct {
	// Duration of the open-loop phase.
	Duration time.Duration
	// Probe is how long the closed-loop phase that measures the maximum
	// throughput runs (its first fifth is not counted).
	Probe time.Duration
	// Load is the open-loop rate as a fraction of the measured maximum.
	Load float64
	// Interval between report lines.
	Interval time.Duration
	// Warmup is the fraction of Duration after which the reference RSS is
	// read; Tolerance the growth of RSS allowed from there to the end.
	Warmup, Tolerance float64
	// Workers are kept registered; every Churn one new worker registers
	// and the oldest drains and leaves.
	Workers int
	Churn   time.Duration
	// Window is the closed-loop phase's tasks in flight.
	Window int
	// Payload bytes per task.
	Payload int
	// Progress receives a line per interval (nil: none).
	Progress io.Writer
}

// DefaultConfig is make soak's run: ten minutes at half the maximum.
func DefaultConfig() Config {
	return Config{Duration: 10 * time.Minute, Probe: 10 * time.Second, Load: 0.5, Interval: 10 * time.Second,
		Warmup: 0.2, Tolerance: 0.10, Workers: 4, Churn: 3 * time.Second, Window: 4096, Payload: 64}
}

// Validate reports every bad field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(cond bool, format string, args ...any) {
		if cond {
			errs = append(errs, fmt.Errorf("soak: "+format, args...))
		}
	}
	bad(c.Duration <= 0, "duration must be positive, got %v", c.Duration)
	bad(c.Probe <= 0, "probe must be positive, got %v", c.Probe)
	bad(c.Load <= 0 || c.Load > 1, "load must be in (0, 1], got %g", c.Load)
	bad(c.Interval <= 0 || c.Interval > c.Duration, "interval must be in (0, duration], got %v", c.Interval)
	bad(c.Warmup <= 0 || c.Warmup >= 1, "warmup must be in (0, 1), got %g", c.Warmup)
	bad(c.Tolerance <= 0, "tolerance must be positive, got %g", c.Tolerance)
	bad(c.Workers < 1, "workers must be at least 1, got %d", c.Workers)
	bad(c.Churn <= 0, "churn must be positive, got %v", c.Churn)
	bad(c.Window < 1, "window must be at least 1, got %d", c.Window)
	bad(c.Payload < 0, "payload must not be negative, got %d", c.Payload)
	return errors.Join(errs...)
}

// Interval is one report line of the open-loop phase.
type Interval struct {
	// At is the end of the interval since the phase began.
	At time.Duration
	// TasksPerSec is the results received in the interval per second;
	// P50 and P99 percentiles of their latency, from each task's intended
	// send time to its result.
	TasksPerSec float64
	P50, P99    time.Duration
	// RSS and HeapAlloc of the queue manager, read without forcing a GC.
	RSS       int64
	HeapAlloc uint64
	// Goroutines of the queue manager; Joined and Left count worker
	// registrations and departures so far.
	Goroutines   int
	Joined, Left int
}

// Report is a soak run's outcome.
type Report struct {
	// MaxRate is the closed-loop throughput (tasks/s); Rate the open-loop
	// one that was offered.
	MaxRate, Rate float64
	Intervals     []Interval
	// WarmRSS and EndRSS are the queue manager's RSS after a forced GC and
	// scavenge (Snapshot with gc) with nothing in flight: at the end of the
	// warm-up (the load pauses until every task sent is answered) and once
	// the load has ended; WarmHeap and EndHeap its HeapAlloc then.
	WarmRSS, EndRSS   int64
	WarmHeap, EndHeap uint64
	// WarmAt and EndAt are when they were read, since the phase began;
	// WarmProfile and EndProfile the heap profiles taken then.
	WarmAt, EndAt           time.Duration
	WarmProfile, EndProfile []byte
	// Tolerance is Config.Tolerance.
	Tolerance float64
	// Sent tasks in the open-loop phase; Received their distinct results;
	// Duplicates results received again; Dead dead letters; Redelivered
	// the queue manager's redelivered tasks over the whole run.
	Sent, Received, Duplicates, Dead int64
	Redelivered                      float64
	// Joined and Left count workers over the whole run.
	Joined, Left int
	// P99 is over every task of the open-loop phase.
	P99 time.Duration
	// Errors met on the way (worker, session or queue manager).
	Errors []string
}

// Failures lists why the run failed: lost or duplicated results, dead
// letters, errors, or RSS that grew by more than Tolerance after warm-up.
func (r *Report) Failures() []string {
	var f []string
	if lost := r.Sent - r.Received; lost != 0 {
		f = append(f, fmt.Sprintf("%d of %d results lost", lost, r.Sent))
	}
	if r.Duplicates != 0 {
		f = append(f, fmt.Sprintf("%d duplicate results", r.Duplicates))
	}
	if r.Dead != 0 {
		f = append(f, fmt.Sprintf("%d dead letters", r.Dead))
	}
	f = append(f, r.Errors...)
	if r.WarmRSS <= 0 || r.EndRSS <= 0 {
		f = append(f, "RSS was not measured")
	} else if g := r.Growth(); r.EndRSS > int64(math.Round(float64(r.WarmRSS)*(1+r.Tolerance))) {
		f = append(f, fmt.Sprintf("RSS grew %.1f%% after warm-up (%s -> %s), more than %.0f%%",
			100*g, mib(r.WarmRSS), mib(r.EndRSS), 100*r.Tolerance))
	}
	return f
}

// Growth is EndRSS relative to WarmRSS, minus one.
func (r *Report) Growth() float64 { return float64(r.EndRSS)/float64(r.WarmRSS) - 1 }

// Write prints the summary.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "soak: max %.0f tasks/s closed-loop, offered %.0f tasks/s open-loop\n", r.MaxRate, r.Rate)
	fmt.Fprintf(w, "soak: sent %d, received %d, duplicates %d, dead letters %d, redelivered %.0f, p99 %v\n",
		r.Sent, r.Received, r.Duplicates, r.Dead, r.Redelivered, r.P99.Round(time.Microsecond))
	fmt.Fprintf(w, "soak: workers joined %d, left %d\n", r.Joined, r.Left)
	fmt.Fprintf(w, "soak: queue manager RSS after GC: warm-up %s, end %s (%+.1f%%, limit +%.0f%%); heap %s -> %s\n",
		mib(r.WarmRSS), mib(r.EndRSS), 100*r.Growth(), 100*r.Tolerance, mib(int64(r.WarmHeap)), mib(int64(r.EndHeap)))
	if f := r.Failures(); len(f) > 0 {
		for _, s := range f {
			fmt.Fprintf(w, "soak: FAIL: %s\n", s)
		}
		return
	}
	fmt.Fprintln(w, "soak: PASS")
}

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }

// Run measures the maximum throughput of qm closed-loop, then offers
// cfg.Load of it open-loop for cfg.Duration while workers come and go,
// reporting every cfg.Interval. The returned error is for a run that could
// not be carried out; a run that did not meet its bounds has Failures.
func Run(ctx context.Context, qm *QM, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Tolerance: cfg.Tolerance}
	c, err := client.Dial(ctx, qm.Addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	pool := newPool(qm.Addr)
	defer pool.stop()
	for range cfg.Workers {
		pool.add(ctx)
	}
	churnCtx, stopChurn := context.WithCancel(ctx)
	churned, firstChurn := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(churned)
		pool.churn(churnCtx, cfg.Churn, firstChurn)
	}()
	defer func() { stopChurn(); <-churned }()

	progress(cfg.Progress, "soak: measuring the maximum throughput closed-loop for %v (%d in flight)", cfg.Probe, cfg.Window)
	if rep.MaxRate, err = probe(ctx, c, cfg); err != nil {
		return nil, err
	}
	rep.Rate = rep.MaxRate * cfg.Load
	progress(cfg.Progress, "soak: max %.0f tasks/s; open loop at %.0f tasks/s for %v", rep.MaxRate, rep.Rate, cfg.Duration)
	if err := openLoop(ctx, qm, c, cfg, rep); err != nil {
		return nil, err
	}
	// A run at least Churn long replaces a worker at least once, however
	// late the churning goroutine got to run.
	if cfg.Duration >= cfg.Churn {
		select {
		case <-firstChurn:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	stopChurn()
	<-churned
	snap, err := qm.Snapshot(ctx, false)
	if err != nil {
		return nil, err
	}
	rep.Redelivered = snap.Tasks["redelivered"]
	joined, left, errs := pool.counts()
	rep.Joined, rep.Left, rep.Errors = joined, left, append(rep.Errors, errs...)
	return rep, nil
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// tracker records the results of one session: which sequence numbers came
// back, and in the open loop their latency in the current interval.
type tracker struct {
	start time.Time
	rate  float64 // tasks/s for intended send times
	// sem holds a token per task in flight in the closed loop (rate 0).
	sem chan struct{}

	mu struct {
		sync.Mutex
		seen             []uint64 // bitset by sequence number
		received, dup    int64
		interval, total  *stats.Histogram
		intervalReceived int64
		// reached is closed once received reaches want (see waitReceived).
		want    int64
		reached chan struct{}
	}
}

func newTracker(rate float64, window int) *tracker {
	t := &tracker{start: time.Now(), rate: rate}
	if rate == 0 {
		t.sem = make(chan struct{}, window)
	}
	t.mu.interval, t.mu.total = stats.NewHistogram(), stats.NewHistogram()
	return t
}

// intended is when task seq was due in the open loop. Called under t.mu:
// shift moves start.
func (t *tracker) intended(seq int64) time.Time {
	return t.start.Add(time.Duration(float64(seq) / t.rate * float64(time.Second)))
}

// due is the number of tasks due by now. Only the sender calls it and
// shift, so it reads start without the lock.
func (t *tracker) due(now time.Time) int64 { return int64(now.Sub(t.start).Seconds() * t.rate) }

// shift delays the schedule of the tasks not sent yet by d, after a pause.
func (t *tracker) shift(d time.Duration) {
	t.mu.Lock()
	t.start = t.start.Add(d)
	t.mu.Unlock()
}

// waitReceived waits until n distinct results have arrived or ctx ends.
func (t *tracker) waitReceived(ctx context.Context, n int64) error {
	t.mu.Lock()
	if t.mu.received >= n {
		t.mu.Unlock()
		return nil
	}
	t.mu.want, t.mu.reached = n, make(chan struct{})
	reached := t.mu.reached
	t.mu.Unlock()
	select {
	case <-reached:
		return nil
	case <-ctx.Done():
		t.mu.Lock()
		defer t.mu.Unlock()
		return fmt.Errorf("soak: %d of %d results after %w", t.mu.received, n, context.Cause(ctx))
	}
}

// onResult runs on the session's receiving goroutine.
func (t *tracker) onResult(r client.Result) {
	now := time.Now()
	seq, err := strconv.ParseInt(r.ID, 36, 64)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil || seq < 0 {
		t.mu.dup++ // an id this run never sent
		return
	}
	w, bit := seq/64, uint64(1)<<(seq%64)
	for int64(len(t.mu.seen)) <= w {
		t.mu.seen = append(t.mu.seen, 0)
	}
	if t.mu.seen[w]&bit != 0 {
		t.mu.dup++
		return
	}
	t.mu.seen[w] |= bit
	t.mu.received++
	t.mu.intervalReceived++
	if t.mu.reached != nil && t.mu.received >= t.mu.want {
		close(t.mu.reached)
		t.mu.reached = nil
	}
	if t.sem != nil {
		<-t.sem // closed loop: a slot is free; latency is not measured
		return
	}
	d := now.Sub(t.intended(seq))
	t.mu.interval.Record(d)
	t.mu.total.Record(d)
}

// cut returns the results and their p50 and p99 since the last cut and
// starts a new interval.
func (t *tracker) cut() (n int64, p50, p99 time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, p50, p99 = t.mu.intervalReceived, t.mu.interval.Quantile(0.5), t.mu.interval.Quantile(0.99)
	t.mu.intervalReceived = 0
	t.mu.interval.Reset()
	return n, p50, p99
}

func (t *tracker) totals() (received, dup int64, p99 time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.received, t.mu.dup, t.mu.total.Quantile(0.99)
}

func openSession(ctx context.Context, c *client.Client, app string, t *tracker) (*client.Session, error) {
	return c.CreateSession(ctx, client.SessionOptions{AppID: app, OnResult: t.onResult,
		// Every churned worker may hand back its batches unanswered, each
		// time an attempt: allow plenty before dead-lettering.
		Attributes: client.Attributes{MaxAttempts: 100}})
}

// finish half-closes s, waits for its last results, reads its dead letters
// and closes it.
func finish(ctx context.Context, s *client.Session) (int64, error) {
	s.CloseSend()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.Wait(wctx); err != nil {
		return 0, fmt.Errorf("soak: session %s: %w (%d tasks unanswered)", s.ID(), err, s.Pending())
	}
	dl, err := s.DeadLetters(ctx)
	if err != nil {
		return 0, err
	}
	return int64(len(dl)), s.Close(ctx)
}

// probe runs a closed loop of cfg.Window tasks in flight for cfg.Probe and
// returns the throughput after its first fifth, counting the results of
// every task sent by then: at least the one sent as counting began, so
// that a machine that stalls still measures something.
func probe(ctx context.Context, c *client.Client, cfg Config) (float64, error) {
	t := newTracker(0, cfg.Window)
	s, err := openSession(ctx, c, "soak-probe", t)
	if err != nil {
		return 0, err
	}
	payload := make([]byte, cfg.Payload)
	begin := time.Now()
	warm, end := begin.Add(cfg.Probe/5), begin.Add(cfg.Probe)
	var counted time.Time // when the warm-up ended and counting began
	var seq int64
	for now := begin; now.Before(end) || counted.IsZero(); now = time.Now() {
		if counted.IsZero() && now.After(warm) {
			t.cut()
			counted = now
		}
		select {
		case t.sem <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if err := s.Submit(ctx, strconv.FormatInt(seq, 36), payload); err != nil {
			return 0, err
		}
		seq++
	}
	if err := t.waitReceived(ctx, seq); err != nil {
		return 0, err
	}
	n, _, _ := t.cut()
	rate := float64(n) / time.Since(counted).Seconds()
	dead, err := finish(ctx, s)
	if err != nil {
		return 0, err
	}
	if got, dup, _ := t.totals(); got != seq || dup != 0 || dead != 0 {
		return 0, fmt.Errorf("soak: probe sent %d tasks, got %d results, %d duplicates, %d dead letters", seq, got, dup, dead)
	}
	if rate <= 0 {
		return 0, errors.New("soak: probe measured no throughput")
	}
	return rate, nil
}
