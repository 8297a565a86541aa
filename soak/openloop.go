package soak

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// openLoop offers cfg.Load of the maximum for cfg.Duration, reporting every
// cfg.Interval, and fills rep.
func openLoop(ctx context.Context, qm *QM, c *client.Client, cfg Config, rep *Report) error {
	t := newTracker(rep.Rate, 0)
	s, err := openSession(ctx, c, "soak", t)
	if err != nil {
		return err
	}
	origin := time.Now()
	t.start = origin
	total := int64(cfg.Duration.Seconds() * rep.Rate)
	payload := make([]byte, cfg.Payload)
	end := origin.Add(cfg.Duration)
	warm := origin.Add(time.Duration(cfg.Warmup * float64(cfg.Duration)))
	warmed := false

	// Lines come from their own goroutine so that they keep their pace
	// while Submit blocks (the stream pushes back when the queue manager
	// falls behind).
	reportCtx, stopReports := context.WithCancel(ctx)
	defer stopReports()
	reported := make(chan error, 1)
	go func() { reported <- reportIntervals(reportCtx, qm, t, cfg, rep, origin) }()

	// The pacer wakes every millisecond and sends every task due by then
	// (the SDK batches them); a late wake-up sends the backlog at once, and
	// latency counts from each task's intended time regardless.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var seq int64
	for {
		now := time.Now()
		if !warmed && !now.Before(warm) {
			snap, prof, err := quiet(ctx, qm, t, seq)
			if err != nil {
				return err
			}
			rep.WarmProfile = prof
			rep.WarmRSS, rep.WarmHeap, rep.WarmAt, warmed = snap.RSS, snap.HeapAlloc, now.Sub(origin), true
			paused := time.Since(now)
			t.shift(paused)
			end = end.Add(paused)
			progress(cfg.Progress, "soak: warm-up done at %v: paused %v to read RSS %s, heap %s with nothing in flight",
				rep.WarmAt.Round(time.Second), paused.Round(time.Millisecond), mib(snap.RSS), mib(int64(snap.HeapAlloc)))
			continue
		}
		if !now.Before(end) {
			break
		}
		due := min(t.due(now), total)
		for ; seq < due; seq++ {
			if err := s.Submit(ctx, strconv.FormatInt(seq, 36), payload); err != nil {
				return err
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := <-reported; err != nil {
		return err
	}
	// The end reading is taken in the same state as the warm-up one.
	snap, prof, err := quiet(ctx, qm, t, seq)
	if err != nil {
		return err
	}
	rep.EndProfile = prof
	rep.EndRSS, rep.EndHeap, rep.EndAt = snap.RSS, snap.HeapAlloc, time.Since(origin)
	rep.Sent = seq
	dead, err := finish(ctx, s)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.Dead = dead
	rep.Received, rep.Duplicates, rep.P99 = t.totals()
	return nil
}

// reportIntervals appends an Interval to rep and prints it at origin +
// k·cfg.Interval, for every such time within cfg.Duration, and returns
// after the last one.
func reportIntervals(ctx context.Context, qm *QM, t *tracker, cfg Config, rep *Report, origin time.Time) error {
	for k := 1; time.Duration(k)*cfg.Interval <= cfg.Duration; k++ {
		timer := time.NewTimer(time.Until(origin.Add(time.Duration(k) * cfg.Interval)))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		now := time.Now()
		n, p50, p99 := t.cut()
		snap, err := qm.Snapshot(ctx, false)
		if err != nil {
			return err
		}
		iv := Interval{At: now.Sub(origin), TasksPerSec: float64(n) / cfg.Interval.Seconds(), P50: p50, P99: p99,
			RSS: snap.RSS, HeapAlloc: snap.HeapAlloc, Goroutines: snap.Goroutines}
		rep.Intervals = append(rep.Intervals, iv)
		progress(cfg.Progress, "soak: t=%-6v %7.0f tasks/s  p50 %-9v p99 %-9v RSS %-8s heap %-8s goroutines %d  workers %v",
			iv.At.Round(time.Second), iv.TasksPerSec, p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond),
			mib(iv.RSS), mib(int64(iv.HeapAlloc)), iv.Goroutines, snap.Workers)
	}
	return nil
}

// quiet waits until the sent tasks are answered, then reads the queue
// manager's memory after a forced GC and scavenge, and its heap profile. Comparing two such
// readings, with the same session open and as many workers, shows memory
// that is retained, not the backlog of the moment.
func quiet(ctx context.Context, qm *QM, t *tracker, sent int64) (Snapshot, []byte, error) {
	wctx, cancel := context.WithTimeoutCause(ctx, time.Minute, errors.New("a minute"))
	defer cancel()
	if err := t.waitReceived(wctx, sent); err != nil {
		return Snapshot{}, nil, err
	}
	snap, err := qm.Snapshot(ctx, true)
	if err != nil {
		return Snapshot{}, nil, err
	}
	prof, err := qm.HeapProfile(ctx)
	return snap, prof, err
}

// pool keeps workers running in this process, each on its own connection,
// and replaces them one at a time.
type pool struct {
	addr string
	mu   struct {
		sync.Mutex
		running      []*member
		joined, left int
		errs         []string
	}
	wg sync.WaitGroup
}

type member struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newPool(addr string) *pool { return &pool{addr: addr} }

// echo answers every task with its payload.
func echo(_ context.Context, tasks []worker.Task, results []worker.Result) error {
	for i, t := range tasks {
		results[i].Payload = t.Payload
	}
	return nil
}

// add starts a worker.
func (p *pool) add(ctx context.Context) {
	wctx, cancel := context.WithCancel(ctx)
	m := &member{cancel: cancel, done: make(chan struct{})}
	p.mu.Lock()
	p.mu.running = append(p.mu.running, m)
	p.mu.joined++
	n := p.mu.joined
	p.mu.Unlock()
	p.wg.Go(func() {
		defer close(m.done)
		w, err := worker.NewBatch(p.addr, echo, worker.WithPod(fmt.Sprint("soak-", n)))
		if err == nil {
			err = w.Run(wctx)
		}
		if err != nil {
			p.mu.Lock()
			p.mu.errs = append(p.mu.errs, err.Error())
			p.mu.Unlock()
		}
	})
}

// retire stops the oldest worker and waits until it has drained.
func (p *pool) retire() {
	p.mu.Lock()
	if len(p.mu.running) == 0 {
		p.mu.Unlock()
		return
	}
	m := p.mu.running[0]
	p.mu.running = p.mu.running[1:]
	p.mu.Unlock()
	m.cancel()
	<-m.done
	p.mu.Lock()
	p.mu.left++
	p.mu.Unlock()
}

// churn registers a new worker and retires the oldest every period until
// ctx ends; it closes first after the first time.
func (p *pool) churn(ctx context.Context, period time.Duration, first chan<- struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.add(ctx)
			p.retire()
			if first != nil {
				close(first)
				first = nil
			}
		case <-ctx.Done():
			return
		}
	}
}

func (p *pool) counts() (joined, left int, errs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.joined, p.mu.left, append([]string(nil), p.mu.errs...)
}

// stop retires every worker.
func (p *pool) stop() {
	p.mu.Lock()
	ms := p.mu.running
	p.mu.running = nil
	p.mu.Unlock()
	for _, m := range ms {
		m.cancel()
	}
	p.wg.Wait()
}
