package allinone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/alpcrun/alpcrun/core/stats"
	"github.com/alpcrun/alpcrun/services/catalog"
	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// Report is the outcome of a demo run.
type Report struct {
	Market           catalog.Market
	Paths, TaskPaths int64
	Tasks            int64
	Seed             uint64
	Workers          int // in-process workers; 0 on an external cluster
	Price, StdErr    float64
	BlackScholes     float64
	Elapsed          time.Duration    // first submit to last result
	Latency          *stats.Histogram // per task, submit to result
	Redelivered      int64            // tasks that took more than one delivery
}

// Sigmas is the Monte Carlo price's distance from Black-Scholes in
// standard errors.
func (r *Report) Sigmas() float64 { return (r.Price - r.BlackScholes) / r.StdErr }

// Print writes the report for a person.
func (r *Report) Print(w io.Writer) error {
	m := r.Market
	verdict := "within 3 s.e."
	if math.Abs(r.Sigmas()) > 3 {
		verdict = "MORE THAN 3 s.e. AWAY"
	}
	secs := r.Elapsed.Seconds()
	lat := r.Latency
	on := ""
	if r.Workers > 0 {
		on = fmt.Sprintf(" on %d workers", r.Workers)
	}
	_, err := fmt.Fprintf(w, `European call  S=%g K=%g r=%g vol=%g T=%g
  Monte Carlo    %.5f ± %.5f (1 s.e.; %s paths, antithetic, seed %d)
  Black-Scholes  %.5f
  difference     %+.5f = %+.2f s.e. (%s)
Throughput       %s tasks/s, %s paths/s (%d tasks of %s paths in %v%s)
Latency          p50 %v  p90 %v  p99 %v  max %v (per task, submit to result)
`,
		m.Spot, m.Strike, m.Rate, m.Vol, m.Maturity,
		r.Price, r.StdErr, si(float64(r.Paths)), r.Seed,
		r.BlackScholes,
		r.Price-r.BlackScholes, r.Sigmas(), verdict,
		si(float64(r.Tasks)/secs), si(float64(r.Paths)/secs), r.Tasks, si(float64(r.TaskPaths)), r.Elapsed.Round(time.Millisecond), on,
		roundLatency(lat.Quantile(0.5)), roundLatency(lat.Quantile(0.9)), roundLatency(lat.Quantile(0.99)), roundLatency(lat.Max()))
	if err == nil && r.Redelivered > 0 {
		_, err = fmt.Fprintf(w, "Redelivered      %d tasks (their results are the same on every delivery)\n", r.Redelivered)
	}
	return err
}

func roundLatency(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Demo prices the European call of cfg by Monte Carlo on a cluster it
// starts in this process (or on the one at cfg.QueueManagerAddr), drawing
// its progress on progress (nil: none; a bar redrawn in place when
// terminal, else a line a second), and stops the cluster.
func Demo(ctx context.Context, cfg DemoConfig, progress io.Writer, terminal bool) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	if cfg.QueueManagerAddr != "" {
		return price(ctx, cfg, Addrs{QueueManager: cfg.QueueManagerAddr, CentralCache: cfg.CentralCacheAddr}, progress, terminal)
	}
	h, err := catalog.Handler("european")
	if err != nil {
		return Report{}, err
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Run(cctx, cfg.Config, Task{Handler: h, Decode: catalog.Decode}, ready) }()
	select {
	case a := <-ready:
		if progress != nil {
			fmt.Fprintf(progress, "cluster: queue manager %s, central cache %s, node cache %s, %d workers (task slots per worker: %d)\n",
				a.QueueManager, a.CentralCache, a.NodeCache, cfg.Workers, cfg.Concurrency)
		}
		r, err := price(ctx, cfg, a, progress, terminal)
		r.Workers = cfg.Workers
		stop()
		return r, errors.Join(err, <-done)
	case err := <-done:
		return Report{}, err
	}
}

// dialTimeout bounds connecting to the services.
const dialTimeout = 10 * time.Second

// price runs the workload on the cluster at a.
func price(ctx context.Context, cfg DemoConfig, a Addrs, out io.Writer, terminal bool) (rep Report, err error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := client.Dial(dctx, a.QueueManager)
	if err != nil {
		return rep, err
	}
	defer c.Close()
	sd, err := client.DialSharedData(dctx, a.CentralCache)
	if err != nil {
		return rep, err
	}
	defer sd.Close()

	level := uint32(1)
	s, err := c.CreateSession(ctx, client.SessionOptions{AppID: "alpcrun-demo", SharedDataLevel: &level, MaxBatchSize: cfg.Batch})
	if err != nil {
		return rep, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dialTimeout)
		defer cancel()
		err = errors.Join(err, s.Close(cctx), sd.Delete(cctx, s.ID()))
	}()
	market, err := json.Marshal(cfg.Market)
	if err != nil {
		return rep, err
	}
	if err := sd.Set(ctx, s.ID(), level, market, 10*time.Minute); err != nil {
		return rep, err
	}

	tasks := (cfg.Paths + cfg.TaskPaths - 1) / cfg.TaskPaths
	pathsOf := func(i int64) int64 { return min(cfg.TaskPaths, cfg.Paths-i*cfg.TaskPaths) }
	if out != nil {
		fmt.Fprintf(out, "pricing a European call: %s paths in %d tasks of %s, batches of up to %d, at most %d tasks in flight\n",
			si(float64(cfg.Paths)), tasks, si(float64(cfg.TaskPaths)), cfg.Batch, cfg.Inflight)
	}
	// sent[i] is when task i was submitted, as time since start; it is
	// read by the receiving loop once the result arrives.
	sent := make([]atomic.Int64, tasks)
	window := make(chan struct{}, cfg.Inflight)
	start := time.Now()
	sctx, stopSubmit := context.WithCancel(ctx)
	defer stopSubmit()
	submitted := make(chan error, 1)
	go func() {
		defer s.CloseSend()
		for i := range tasks {
			select {
			case window <- struct{}{}:
			case <-sctx.Done():
				submitted <- sctx.Err()
				return
			}
			sent[i].Store(int64(time.Since(start)))
			t := catalog.PricingTask{Seed: cfg.Seed, Index: uint64(i), Paths: uint64(pathsOf(i))}
			if err := s.Submit(sctx, strconv.FormatInt(i, 10), catalog.Payload("european", t.Encode())); err != nil {
				submitted <- err
				return
			}
		}
		submitted <- nil
	}()

	bar := &progress{w: out, terminal: terminal, total: cfg.Paths, start: start}
	tick := time.NewTicker(bar.interval())
	defer tick.Stop()
	lat := stats.NewHistogram()
	got := make([]bool, tasks)
	var done, paths, pairs, redelivered int64
	var sum, sumSq float64
	results := s.Results()
receive:
	for done < tasks {
		select {
		case r, ok := <-results:
			if !ok {
				break receive
			}
			i, perr := strconv.ParseInt(r.ID, 10, 64)
			if perr != nil || i < 0 || i >= tasks || got[i] {
				return rep, fmt.Errorf("allinone: unexpected result id %q", r.ID)
			}
			lat.Record(time.Since(start) - time.Duration(sent[i].Load()))
			<-window
			s1, s2, derr := catalog.DecodeResult(r.Payload)
			if derr != nil {
				return rep, derr
			}
			got[i] = true
			done++
			paths += pathsOf(i)
			pairs += pathsOf(i) / 2
			sum += s1
			sumSq += s2
			if r.Attempts > 1 {
				redelivered++
			}
		case <-tick.C:
			bar.draw(paths, done, false)
		case <-ctx.Done():
			bar.draw(paths, done, true)
			return rep, ctx.Err()
		}
	}
	elapsed := time.Since(start)
	bar.draw(paths, done, true)
	if done < tasks {
		return rep, missing(ctx, s, tasks-done)
	}
	if err := <-submitted; err != nil {
		return rep, err
	}
	if err := s.Wait(ctx); err != nil {
		return rep, err
	}

	n := float64(pairs)
	mean := sum / n
	variance := max(sumSq-n*mean*mean, 0) / (n - 1)
	return Report{
		Market: cfg.Market, Paths: cfg.Paths, TaskPaths: cfg.TaskPaths, Tasks: tasks, Seed: cfg.Seed,
		Price: mean, StdErr: math.Sqrt(variance / n), BlackScholes: catalog.BlackScholes(cfg.Market),
		Elapsed: elapsed, Latency: lat, Redelivered: redelivered,
	}, nil
}

// missing explains why the stream ended before every result came.
func missing(ctx context.Context, s *client.Session, n int64) error {
	err := fmt.Errorf("allinone: %d tasks got no result", n)
	if werr := s.Wait(ctx); werr != nil {
		return fmt.Errorf("%w: %w", err, werr)
	}
	dead, derr := s.DeadLetters(ctx)
	if derr != nil {
		return fmt.Errorf("%w: %w", err, derr)
	}
	if len(dead) > 0 {
		return fmt.Errorf("%w: %d dead letters, the first: task %s: %s", err, len(dead), dead[0].ID, dead[0].Error)
	}
	return err
}
