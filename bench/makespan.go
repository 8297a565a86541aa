package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/alpcrun/alpcrun/services/grpctune"
	"github.com/alpcrun/alpcrun/services/queuemanager"
	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

// MakespanShape is one makespan workload: tasks that sleep, on workers of
// Concurrency slots each, sent through the client SDK.
type MakespanShape struct {
	// Task names the durations in the benchmark's path: "10ms",
	// "lognormal".
	Task string
	// Durations is how long each task sleeps, one entry per task.
	Durations   []time.Duration
	Workers     int
	Concurrency int
	// OneBatch sends every task in one SubmitBatch; otherwise each task
	// goes through Submit alone and the client SDK batches them with its
	// defaults.
	OneBatch bool
}

// Name is the shape's benchmark path, e.g. "task=10ms/workers=16/send=sdk".
func (s MakespanShape) Name() string {
	send := "sdk"
	if s.OneBatch {
		send = "onebatch"
	}
	return "task=" + s.Task + "/workers=" + strconv.Itoa(s.Workers) + "/send=" + send
}

// Ideal is the makespan of a dispatch that keeps every slot busy from the
// first submit to the last result: the total task time over Workers ×
// Concurrency slots.
func (s MakespanShape) Ideal() time.Duration {
	var total time.Duration
	for _, d := range s.Durations {
		total += d
	}
	return total / time.Duration(s.Workers*s.Concurrency)
}

// FixedDurations is n tasks of d each.
func FixedDurations(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// LognormalDurations is n task durations drawn from a lognormal
// distribution with the given mean whose underlying normal has standard
// deviation sigma: a heavy tail (sigma 1: the median is 0.61 × the mean,
// one task in a thousand takes over 13 × the mean). The generator is
// seeded with seed, so that every call returns the same durations.
func LognormalDurations(mean time.Duration, sigma float64, n int, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, seed))
	// The mean of exp(N(mu, sigma²)) is exp(mu + sigma²/2).
	mu := math.Log(float64(mean)) - sigma*sigma/2
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(math.Exp(mu + sigma*r.NormFloat64()))
	}
	return out
}

// MakespanResult is what one makespan round measured. Result.Elapsed is
// the makespan: from the first submit to the last result received.
type MakespanResult struct {
	Result
	Ideal time.Duration
	// WorkersUsed counts the workers that ran at least one task.
	WorkersUsed int
}

// Efficiency is the ideal makespan over the measured one: 1 when every
// slot was busy all along, 1/Workers when one worker did everything.
func (r MakespanResult) Efficiency() float64 { return r.Ideal.Seconds() / r.Elapsed.Seconds() }

// RunMakespan runs one round of s on a fresh system and tears it down.
func RunMakespan(ctx context.Context, s MakespanShape) (MakespanResult, error) {
	sys, err := StartMakespan(ctx, s)
	if err != nil {
		return MakespanResult{}, err
	}
	res, err := sys.Run(ctx)
	return res, errors.Join(err, sys.Close())
}

// MakespanSystem is a queue manager on 127.0.0.1 with s.Workers workers
// of the worker SDK, every one registered, and a client SDK session, each
// on its own connection: a deployment's processes in one process.
type MakespanSystem struct {
	shape   MakespanShape
	session *client.Session
	// ran counts the tasks each worker's handler started.
	ran []atomic.Int64
	// closers tear the system down, last started first.
	closers []func() error
}

// StartMakespan starts the system for s and returns once the queue
// manager has registered every worker, so that a round's clock does not
// count worker start-up. Close it when done, also after a failed Run.
func StartMakespan(ctx context.Context, s MakespanShape) (_ *MakespanSystem, err error) {
	if s.Workers < 1 || s.Concurrency < 1 || len(s.Durations) == 0 {
		return nil, fmt.Errorf("bench: bad makespan shape %s: %d workers, concurrency %d, %d tasks",
			s.Name(), s.Workers, s.Concurrency, len(s.Durations))
	}
	m := &MakespanSystem{shape: s, ran: make([]atomic.Int64, s.Workers)}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.Close())
		}
	}()

	reg := prometheus.NewRegistry()
	opts := queuemanager.DefaultOptions()
	opts.Registerer = reg
	qm, err := queuemanager.New(opts)
	if err != nil {
		return nil, fmt.Errorf("bench: queue manager: %w", err)
	}
	m.closers = append(m.closers, func() error { qm.Close(); return nil })
	srv := grpc.NewServer(append(grpctune.ServerOptions(), qm.ServerOptions()...)...)
	qm.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	m.closers = append(m.closers, func() error { srv.Stop(); return <-served })
	addr := lis.Addr().String()

	if err := m.startWorkers(ctx, addr, reg); err != nil {
		return nil, err
	}
	c, err := client.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("bench: client: %w", err)
	}
	m.closers = append(m.closers, c.Close)
	if m.session, err = c.CreateSession(ctx, client.SessionOptions{AppID: "makespan"}); err != nil {
		return nil, fmt.Errorf("bench: create session: %w", err)
	}
	return m, nil
}

// startWorkers runs s.Workers workers that sleep each task's duration and
// waits until each has reported IDLE, its first report after registering,
// and the queue manager counts them all.
func (m *MakespanSystem) startWorkers(ctx context.Context, addr string, reg *prometheus.Registry) error {
	wctx, cancel := context.WithCancel(context.Background())
	idle := make(chan struct{}, m.shape.Workers)
	ended := make(chan error, m.shape.Workers)
	var wg sync.WaitGroup
	m.closers = append(m.closers, func() error {
		cancel()
		wg.Wait()
		close(ended)
		var errs []error
		for err := range ended {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	for i := range m.shape.Workers {
		var once sync.Once
		w, err := worker.New(addr, sleeper(&m.ran[i]),
			worker.WithConcurrency(m.shape.Concurrency),
			worker.WithNode("bench"), worker.WithPod("bench-"+strconv.Itoa(i)),
			worker.WithStateHook(func(e worker.Event) {
				if e.State == worker.StateIdle {
					once.Do(func() { idle <- struct{}{} })
				}
			}))
		if err != nil {
			return fmt.Errorf("bench: worker: %w", err)
		}
		wg.Go(func() {
			if err := w.Run(wctx); err != nil {
				ended <- fmt.Errorf("bench: worker %d: %w", i, err)
			}
		})
	}
	for range m.shape.Workers {
		select {
		case <-idle:
		case err := <-ended:
			return err
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for %d workers to register: %w", m.shape.Workers, ctx.Err())
		}
	}
	return waitRegistered(ctx, reg, m.shape.Workers)
}

// waitRegistered waits until the queue manager's alpcrun_workers gauge
// counts n workers. A worker reports IDLE once it has its id, which the
// queue manager sends just before it adds the worker to its registry:
// this closes that gap, a few microseconds at most.
func waitRegistered(ctx context.Context, reg *prometheus.Registry, n int) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		mfs, err := reg.Gather()
		if err != nil {
			return fmt.Errorf("bench: gather the queue manager's metrics: %w", err)
		}
		found, count := false, 0.0
		for _, mf := range mfs {
			if mf.GetName() != "alpcrun_workers" {
				continue
			}
			found = true
			for _, m := range mf.GetMetric() {
				count += m.GetGauge().GetValue()
			}
		}
		switch {
		case !found:
			return errors.New("bench: the queue manager exports no alpcrun_workers gauge")
		case int(count) >= n:
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("bench: the queue manager counts %v of %d workers: %w", count, n, ctx.Err())
		}
	}
}

// sleeper is a worker handler that sleeps the duration in the task's
// payload (DurationPayload) and counts the tasks it started in ran.
func sleeper(ran *atomic.Int64) worker.Handler {
	return func(ctx context.Context, t worker.Task) ([]byte, error) {
		ran.Add(1)
		if len(t.Payload) != 8 {
			return nil, fmt.Errorf("bench: task %s: %d payload bytes, want an 8-byte duration", t.ID, len(t.Payload))
		}
		timer := time.NewTimer(time.Duration(binary.BigEndian.Uint64(t.Payload)))
		defer timer.Stop()
		select {
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// DurationPayload is the payload of a task that sleeps d: d in
// nanoseconds, 8 bytes big-endian.
func DurationPayload(d time.Duration) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(d))
}

// Run submits the shape's tasks, task i with id strconv.Itoa(i), and
// receives their results. The clock runs from the first submit to the
// last result; building the tasks and closing the session are outside it.
// Run stops at a result it did not send, the stream's end with tasks
// unanswered, or ctx's end.
func (m *MakespanSystem) Run(ctx context.Context) (MakespanResult, error) {
	s := m.shape
	tasks := make([]client.Task, len(s.Durations))
	for i, d := range s.Durations {
		tasks[i] = client.Task{ID: strconv.Itoa(i), Payload: DurationPayload(d)}
	}
	res := MakespanResult{Ideal: s.Ideal()}
	submitted := make(chan error, 1)
	start := time.Now()
	go func() {
		var err error
		if s.OneBatch {
			err = m.session.SubmitBatch(ctx, tasks)
		} else {
			for _, t := range tasks {
				if err = m.session.Submit(ctx, t.ID, t.Payload); err != nil {
					break
				}
			}
		}
		m.session.CloseSend()
		submitted <- err
	}()
	var err error
	res.Result, err = collect(ctx, m.session.Results(), len(tasks), start)
	for i := range m.ran {
		if m.ran[i].Load() > 0 {
			res.WorkersUsed++
		}
	}
	if err != nil {
		return res, err
	}
	if err := <-submitted; err != nil {
		return res, fmt.Errorf("bench: submit: %w", err)
	}
	if err := m.session.Wait(ctx); err != nil {
		return res, fmt.Errorf("bench: session: %w", err)
	}
	if res.Received < len(tasks) {
		dead, err := m.session.DeadLetters(ctx)
		return res, errors.Join(fmt.Errorf("bench: the session ended with %d of %d results and %d dead letters",
			res.Received, len(tasks), len(dead)), err)
	}
	return res, nil
}

// collect reads results of n tasks with ids strconv.Itoa(0..n-1) until the
// channel closes, counting each task once and duplicates apart. Elapsed
// runs from start to the result that completed the set; it stays 0 when
// the set is incomplete.
func collect(ctx context.Context, results <-chan client.Result, n int, start time.Time) (Result, error) {
	var r Result
	seen := make([]bool, n)
	for {
		select {
		case res, ok := <-results:
			if !ok {
				return r, nil
			}
			i, known := parseIndex(res.ID, n)
			switch {
			case !known:
				return r, fmt.Errorf("bench: result for unknown task id %q", res.ID)
			case seen[i]:
				r.Duplicates++
				continue
			}
			seen[i] = true
			r.Received++
			r.IDSum += uint64(i)
			if r.Received == n {
				r.Elapsed = time.Since(start)
			}
		case <-ctx.Done():
			return r, fmt.Errorf("bench: stopped after %d of %d results: %w", r.Received, n, ctx.Err())
		}
	}
}

// Close ends the session, the workers (which drain) and the queue
// manager, and returns the workers' errors.
func (m *MakespanSystem) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}
