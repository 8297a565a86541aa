package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alpcrun/alpcrun/core/stats"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// Timeouts of the calls around a point (not of its tasks).
const (
	dialTimeout    = 10 * time.Second
	cleanupTimeout = 10 * time.Second
	// deadLetterPoll is how long a full closed-loop window may go without
	// a result before the sender collects dead letters, whose slots would
	// otherwise never come back.
	deadLetterPoll = time.Second
	// maxErrorSamples bounds the error messages kept per point.
	maxErrorSamples = 5
)

// Run runs every point of cfg's matrix in turn, Count times over, and
// reports them. Failures of
// tasks are counted in the report, not returned; Run returns an error when
// the configuration is invalid or a point cannot start (no queue manager, a
// session refused). When ctx ends, the point under way stops early, is
// reported with what it measured, and Run returns ctx's error with the
// report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	rep := Report{Labels: cfg.labels()}
	points, passes := cfg.Points(), max(cfg.Count, 1)
	for pass := 1; pass <= passes; pass++ {
		for i, p := range points {
			n := (pass-1)*len(points) + i + 1
			r, err := runPoint(ctx, &cfg, p, fmt.Sprintf("[%d/%d]", n, passes*len(points)))
			if err != nil {
				return rep, err
			}
			r.Pass = pass
			rep.Runs = append(rep.Runs, r)
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
		}
	}
	return rep, nil
}

// sessionRun is one session of a point. The sender goroutine owns the
// fields marked sender, the stream's receiving goroutine (OnResult) those
// marked receiver; the point reads them once both have finished.
type sessionRun struct {
	c      *client.Client
	s      *client.Session
	closed bool // s was closed
	// measuredQuota is the number of measured tasks to send (-1: no
	// limit); seq < warmTasks and tasks sent before warmNs are warm-up.
	measuredQuota int64
	warmTasks     int64
	// slots is the closed-loop window: a token per task that may be sent.
	slots chan struct{}

	// Read by the progress line while the point runs.
	sent, done atomic.Int64

	// sender
	next          int64         // next sequence number
	measuredSent  int64         // measured tasks submitted
	firstMeasured time.Duration // send time of the first measured task; -1: none
	dead          int64
	errs          []string

	// receiver
	hist        *stats.Histogram
	seen        bitset
	measured    int64
	warm        int64
	dup         int64
	unknown     int64
	lastArrival time.Duration
}

// point is one run of the matrix in progress.
type point struct {
	cfg     *Config
	p       Point
	start   time.Time
	warmNs  time.Duration // tasks sent before this are warm-up
	payload []byte
	stop    <-chan struct{} // closed when sending must end (Duration, ctx)
	// measuring starts the Duration bound at the first measured send, so
	// that a slow start (a busy machine) cannot leave nothing measured.
	measuring sync.Once
	bound     *time.Timer // set under measuring
	stopSend  func()
}

func runPoint(ctx context.Context, cfg *Config, p Point, tag string) (RunResult, error) {
	pt := &point{cfg: cfg, p: p, payload: payload(p.Payload)}
	runs, sd, err := pt.open(ctx)
	// Whatever opened is closed, also after ctx ended.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	defer pt.close(cctx, runs, sd)
	if err != nil {
		return RunResult{}, err
	}

	// Sending stops at the bound in time or when ctx ends; the tasks
	// already sent are still awaited (unless ctx ended).
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	pt.stop, pt.stopSend = sendCtx.Done(), stopSending
	pt.start = time.Now()
	pt.warmNs = cfg.Warmup
	prog := startProgress(cfg, tag+" "+p.Name(), runs)

	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Go(func() {
			pt.send(ctx, r, i)
			r.s.CloseSend()
		})
	}
	wg.Wait()
	if pt.bound != nil {
		pt.bound.Stop()
	}

	// Drain: every session's stream ends once its tasks are answered or
	// dead-lettered.
	dctx, dcancel := context.WithTimeout(ctx, cfg.DrainTimeout)
	for _, r := range runs {
		if err := r.s.Wait(dctx); err != nil {
			r.errorf("session %s: %v", r.s.ID(), err)
		}
	}
	dcancel()
	for _, r := range runs {
		dl, err := r.s.DeadLetters(cctx)
		if err != nil {
			r.errorf("dead letters of %s: %v", r.s.ID(), err)
		}
		r.dead += int64(len(dl))
		// Close stops the receiver, so its fields can be read below.
		if err := r.s.Close(cctx); err != nil && !errors.Is(err, client.ErrNotFound) {
			r.errorf("close %s: %v", r.s.ID(), err)
		}
		r.closed = true
	}
	prog.stop()
	return pt.result(runs), nil
}

// open creates the point's sessions, one connection each, and their shared
// data; it returns what it opened, also on error.
func (pt *point) open(ctx context.Context) ([]*sessionRun, *client.SharedData, error) {
	cfg, p := pt.cfg, pt.p
	opts, err := cfg.sdkOptions()
	if err != nil {
		return nil, nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var sd *client.SharedData
	var level *uint32
	if p.SharedData > 0 {
		if sd, err = client.DialSharedData(dctx, cfg.CentralCache, opts...); err != nil {
			return nil, nil, fmt.Errorf("loadgen: central cache: %w", err)
		}
		one := uint32(1)
		level = &one
	}
	var runs []*sessionRun
	for i := range p.Sessions {
		c, err := client.Dial(dctx, cfg.QueueManager, opts...)
		if err != nil {
			return runs, sd, fmt.Errorf("loadgen: queue manager: %w", err)
		}
		r := &sessionRun{
			c:             c,
			measuredQuota: -1,
			warmTasks:     int64(share(cfg.WarmupTasks, p.Sessions, i)),
			firstMeasured: -1,
			hist:          stats.NewHistogram(),
		}
		if cfg.Tasks > 0 {
			r.measuredQuota = int64(share(cfg.Tasks, p.Sessions, i))
		}
		if !p.Open() {
			r.slots = make(chan struct{}, p.Inflight)
			for range p.Inflight {
				r.slots <- struct{}{}
			}
		}
		runs = append(runs, r)
		r.s, err = c.CreateSession(dctx, client.SessionOptions{
			AppID:           cfg.AppID,
			MaxBatchSize:    p.Batch,
			SharedDataLevel: level,
			OnResult:        func(res client.Result) { pt.receive(r, res) },
		})
		if err != nil {
			return runs, sd, fmt.Errorf("loadgen: create session: %w", err)
		}
		if sd != nil {
			if err := sd.Set(dctx, r.s.ID(), *level, payload(p.SharedData), 0); err != nil {
				return runs, sd, fmt.Errorf("loadgen: set shared data: %w", err)
			}
		}
	}
	return runs, sd, nil
}

// close releases what open opened: sessions still open (a point that
// failed to start), shared data, connections.
func (pt *point) close(ctx context.Context, runs []*sessionRun, sd *client.SharedData) {
	for _, r := range runs {
		if r.s != nil && !r.closed {
			_ = r.s.Close(ctx)
		}
		if r.s != nil && sd != nil {
			_ = sd.Delete(ctx, r.s.ID())
		}
		r.c.Close()
	}
	if sd != nil {
		sd.Close()
	}
}

// share splits n over k parts; part i gets its share of the remainder.
func share(n, k, i int) int {
	s := n / k
	if i < n%k {
		s++
	}
	return s
}

// send runs session i's sender until its quota is sent, the point stops, or
// the session fails.
func (pt *point) send(ctx context.Context, r *sessionRun, i int) {
	p := pt.p
	tasks := make([]client.Task, 0, p.Batch)
	var interval, offset time.Duration
	var timer *time.Timer
	if p.Open() {
		// Each session sends Rate/Sessions tasks/s; their schedules are
		// staggered so that the sum is evenly spaced.
		interval = time.Duration(float64(p.Batch*p.Sessions) / p.Rate * float64(time.Second))
		offset = interval * time.Duration(i) / time.Duration(p.Sessions)
		timer = time.NewTimer(time.Hour)
		defer timer.Stop()
	}
	for k := 0; ; k++ {
		if r.measuredQuota >= 0 && r.measuredSent >= r.measuredQuota {
			return
		}
		var at time.Duration // the send time latency is measured from
		if p.Open() {
			at = offset + time.Duration(k)*interval
			if wait := at - time.Since(pt.start); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-pt.stop:
					return
				}
			}
		} else {
			if !pt.acquire(ctx, r, p.Batch) {
				return
			}
			at = time.Since(pt.start)
		}
		select {
		case <-pt.stop:
			pt.release(r, p.Batch)
			return
		default:
		}
		var measured int64
		tasks, measured = pt.batch(r, tasks[:0], at)
		pt.release(r, p.Batch-len(tasks))
		if len(tasks) == 0 {
			return
		}
		// The ids are unique even if the batch fails: a task id is never
		// offered twice.
		r.next += int64(len(tasks))
		if err := pt.submit(ctx, r, tasks); err != nil {
			r.errorf("submit: %v", err)
			return
		}
		if measured > 0 && r.firstMeasured < 0 {
			r.firstMeasured = at
			if pt.cfg.Duration > 0 {
				pt.measuring.Do(func() { pt.bound = time.AfterFunc(pt.cfg.Duration, pt.stopSend) })
			}
		}
		r.measuredSent += measured
		r.sent.Add(int64(len(tasks)))
	}
}

// submit sends a batch. SubmitBatch blocks while the stream pushes back;
// a stream that takes nothing for DrainTimeout ends the session's sending
// instead of hanging the point.
func (pt *point) submit(ctx context.Context, r *sessionRun, tasks []client.Task) error {
	ctx, cancel := context.WithTimeout(ctx, pt.cfg.DrainTimeout)
	defer cancel()
	return r.s.SubmitBatch(ctx, tasks)
}

// batch appends up to a batch of tasks sent at at, stopping early when the
// measured quota is reached, and returns how many of them are measured. A
// task's id is "seq.at" (at in ns since the point's start), so the
// receiver knows its send time without a table shared with the sender.
func (pt *point) batch(r *sessionRun, tasks []client.Task, at time.Duration) ([]client.Task, int64) {
	var measured int64
	var buf []byte
	for range pt.p.Batch {
		seq := r.next + int64(len(tasks))
		if !pt.warmup(r, seq, at) {
			if r.measuredQuota >= 0 && r.measuredSent+measured == r.measuredQuota {
				break
			}
			measured++
		}
		buf = strconv.AppendInt(buf[:0], seq, 10)
		buf = append(buf, '.')
		buf = strconv.AppendInt(buf, int64(at), 10)
		tasks = append(tasks, client.Task{ID: string(buf), Payload: pt.payload})
	}
	return tasks, measured
}

// warmup reports whether task seq of r, sent at at, is warm-up.
func (pt *point) warmup(r *sessionRun, seq int64, at time.Duration) bool {
	return at < pt.warmNs || seq < r.warmTasks
}

// acquire takes n slots of the closed-loop window. When a deadLetterPoll
// passes without a free slot it collects dead letters, whose slots no result
// will free, and after DrainTimeout without progress it gives up.
func (pt *point) acquire(ctx context.Context, r *sessionRun, n int) bool {
	t := time.NewTimer(deadLetterPoll)
	defer t.Stop()
	var waited time.Duration
	got, gotAtTick := 0, 0
	for got < n {
		select {
		case <-r.slots:
			got++
			continue
		case <-pt.stop:
			pt.release(r, got)
			return false
		case <-t.C:
		}
		t.Reset(deadLetterPoll)
		if got > gotAtTick {
			gotAtTick, waited = got, 0
			continue
		}
		dl, err := r.s.DeadLetters(ctx)
		if err != nil {
			r.errorf("dead letters: %v", err)
		}
		r.dead += int64(len(dl))
		pt.release(r, len(dl))
		if len(dl) > 0 {
			waited = 0
			continue
		}
		if waited += deadLetterPoll; waited >= pt.cfg.DrainTimeout {
			pt.release(r, got)
			r.errorf("no result for %v with %d tasks in flight: stopped sending", waited, pt.p.Inflight)
			return false
		}
	}
	return true
}

// release returns n slots to a closed-loop window.
func (pt *point) release(r *sessionRun, n int) {
	if r.slots == nil {
		return
	}
	for range n {
		select {
		case r.slots <- struct{}{}:
		default:
		}
	}
}

// receive records one result; it runs on the session's receiving goroutine.
func (pt *point) receive(r *sessionRun, res client.Result) {
	now := time.Since(pt.start)
	seq, at, ok := parseID(res.ID)
	switch {
	case !ok:
		r.unknown++
		return
	case r.seen.testAndSet(seq):
		r.dup++
		return
	}
	if pt.warmup(r, seq, at) {
		r.warm++
	} else {
		r.hist.Record(now - at)
		r.measured++
		r.lastArrival = max(r.lastArrival, now)
	}
	r.done.Add(1)
	pt.release(r, 1)
}

func parseID(id string) (seq int64, at time.Duration, ok bool) {
	for i := 0; i < len(id); i++ {
		if id[i] == '.' {
			s, err1 := strconv.ParseInt(id[:i], 10, 64)
			a, err2 := strconv.ParseInt(id[i+1:], 10, 64)
			return s, time.Duration(a), err1 == nil && err2 == nil && s >= 0
		}
	}
	return 0, 0, false
}

func (r *sessionRun) errorf(format string, args ...any) {
	if len(r.errs) < maxErrorSamples {
		r.errs = append(r.errs, fmt.Sprintf(format, args...))
	}
}

// result merges the sessions' records.
func (pt *point) result(runs []*sessionRun) RunResult {
	res := RunResult{Name: pt.p.Name(), Mode: pt.p.Mode(), Point: pt.p, hist: stats.NewHistogram()}
	first, last := time.Duration(-1), time.Duration(0)
	for _, r := range runs {
		res.hist.Merge(r.hist)
		sent := r.sent.Load()
		res.Sent += r.measuredSent
		res.WarmupSent += sent - r.measuredSent
		res.Completed += r.measured
		res.Dead += r.dead
		res.Duplicates += r.dup
		lost := sent - r.measured - r.warm - r.dead
		res.Lost += max(lost, 0)
		res.Errors += max(lost, 0) + r.dup + r.unknown
		res.ErrorSamples = append(res.ErrorSamples, r.errs...)
		if r.firstMeasured >= 0 && (first < 0 || r.firstMeasured < first) {
			first = r.firstMeasured
		}
		last = max(last, r.lastArrival)
	}
	if first >= 0 && last > first {
		res.Elapsed = last - first
		res.TasksPerSec = float64(res.Completed) / res.Elapsed.Seconds()
	}
	res.Latency = latencyOf(res.hist)
	return res
}

// payload returns size bytes from a fixed seed, so every run sends the same.
func payload(size int) []byte {
	p := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

// bitset marks sequence numbers seen; it grows as needed.
type bitset []uint64

func (b *bitset) testAndSet(i int64) bool {
	w, bit := int(i/64), uint64(1)<<(i%64)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	was := (*b)[w]&bit != 0
	(*b)[w] |= bit
	return was
}
