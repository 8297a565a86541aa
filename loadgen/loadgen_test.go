package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	"github.com/alpcrun/alpcrun/loadgen"
	"github.com/alpcrun/alpcrun/services/centralcache"
	"github.com/alpcrun/alpcrun/services/queuemanager"
	"github.com/alpcrun/alpcrun/services/sdk"
	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
	"github.com/alpcrun/alpcrun/services/tlstest"
)

func testCtx(t *testing.T) context.Context { return servicetest.Context(t) }

// stack is a queue manager and a central cache as their mains run them
// (with health and reflection), on loopback.
type stack struct{ qm, cache string }

// startStack starts the services, over mutual TLS when certs is set.
func startStack(t *testing.T, certs ...tlstest.Files) stack {
	qc := queuemanager.DefaultOptions()
	qc.Listen, qc.HTTPListen, qc.LogLevel = "127.0.0.1:0", "", "error"
	qc.SchedulerInterval = 20 * time.Millisecond
	cc := centralcache.DefaultOptions()
	cc.Listen, cc.HTTPListen, cc.LogLevel = "127.0.0.1:0", "", "error"
	for _, c := range certs {
		qc.TLS, qc.CertFile, qc.KeyFile, qc.ClientCAFile = true, c.ServerCert, c.ServerKey, c.CACert
		cc.TLS, cc.CertFile, cc.KeyFile, cc.ClientCAFile = true, c.ServerCert, c.ServerKey, c.CACert
	}
	return stack{
		qm:    servicetest.RunUntilReady(t, func(ctx context.Context, r chan<- string) error { return queuemanager.Run(ctx, qc, r) }),
		cache: servicetest.RunUntilReady(t, func(ctx context.Context, r chan<- string) error { return centralcache.Run(ctx, cc, r) }),
	}
}

// startWorkers runs n workers with handler h, reading shared data from the
// central cache (it serves the node cache's API).
func (s stack) startWorkers(t *testing.T, n int, h worker.Handler) {
	s.startWorkersWith(t, n, h, nil, nil)
}

func (s stack) startWorkersWith(t *testing.T, n int, h worker.Handler, ncOpts []worker.NodeCacheOption, opts []worker.Option) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		nc, err := worker.NewNodeCache(s.cache, ncOpts...)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer nc.Close()
			o := append([]worker.Option{worker.WithPod(fmt.Sprintf("w%d", i)), worker.WithConcurrency(4),
				worker.WithHeartbeat(time.Second), worker.WithSharedData(nc)}, opts...)
			err := worker.Run(ctx, s.qm, h, o...)
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func echo(_ context.Context, t worker.Task) ([]byte, error) { return t.Payload, nil }

func (s stack) config() loadgen.Config {
	cfg := loadgen.DefaultConfig()
	cfg.QueueManager, cfg.CentralCache = s.qm, s.cache
	cfg.Labels = []loadgen.Label{{Key: "commit", Value: "abc123"}, {Key: "queue", Value: "priority"}}
	cfg.DrainTimeout = 10 * time.Second
	return cfg
}

// checkExact fails unless every measured task of every run came back once.
func checkExact(t *testing.T, rep loadgen.Report, tasks int64) {
	t.Helper()
	for _, r := range rep.Runs {
		if r.Sent != tasks || r.Completed != tasks || r.Errors != 0 || r.Dead != 0 || r.Lost != 0 || r.Duplicates != 0 {
			t.Errorf("%s: sent %d completed %d errors %d dead %d lost %d duplicates %d, want %d each and no failures; %v",
				r.Name, r.Sent, r.Completed, r.Errors, r.Dead, r.Lost, r.Duplicates, tasks, r.ErrorSamples)
		}
		if n := r.Histogram().Count(); n != tasks {
			t.Errorf("%s: %d latencies recorded, want %d", r.Name, n, tasks)
		}
		if r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 || r.TasksPerSec <= 0 {
			t.Errorf("%s: latency %+v, %v tasks/s", r.Name, r.Latency, r.TasksPerSec)
		}
	}
}

func TestRunClosedAndOpenLoop(t *testing.T) {
	s := startStack(t)
	s.startWorkers(t, 2, echo)
	cfg := s.config()
	cfg.Sessions = []int{1, 2}
	cfg.Batch = []int{10}
	cfg.Inflight = []int{100}
	cfg.Rate = []float64{4000}
	cfg.Tasks, cfg.WarmupTasks = 1000, 100
	var progress bytes.Buffer
	cfg.Progress, cfg.ProgressInterval = &progress, time.Millisecond

	rep, err := loadgen.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Loadgen/sessions=1/batch=10/payload=64/shared=0/inflight=100/mode=closed",
		"Loadgen/sessions=1/batch=10/payload=64/shared=0/rate=4000/mode=open",
		"Loadgen/sessions=2/batch=10/payload=64/shared=0/inflight=100/mode=closed",
		"Loadgen/sessions=2/batch=10/payload=64/shared=0/rate=4000/mode=open",
	}
	if len(rep.Runs) != len(want) {
		t.Fatalf("%d runs, want %d", len(rep.Runs), len(want))
	}
	for i, r := range rep.Runs {
		if r.Name != want[i] {
			t.Errorf("run %d is %s, want %s", i, r.Name, want[i])
		}
		if r.WarmupSent != 100 {
			t.Errorf("%s: %d warm-up tasks, want 100", r.Name, r.WarmupSent)
		}
	}
	checkExact(t, rep, 1000)
	if !strings.Contains(progress.String(), "[1/4] "+want[0]) {
		t.Errorf("no progress line for the first run in %q", progress.String())
	}
	checkFormats(t, rep)
}

// checkFormats checks that the bench format parses with benchfmt and
// carries the configuration lines, and that JSON and the summary hold every
// run.
func checkFormats(t *testing.T, rep loadgen.Report) {
	t.Helper()
	var buf bytes.Buffer
	if err := rep.Write(&buf, loadgen.FormatBench); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, line := range []string{"commit: abc123", "queue: priority", "goos: ", "goarch: ", "target: 127.0.0.1:", "Unit tasks/s better=higher"} {
		if !strings.Contains(text, line) {
			t.Errorf("bench output lacks %q:\n%s", line, text)
		}
	}
	rd := benchfmt.NewReader(strings.NewReader(text), "loadgen.txt")
	n := 0
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			t.Errorf("bench output: %v", rec)
		case *benchfmt.Result:
			r := rep.Runs[n]
			if got := "Benchmark" + string(rec.Name.Full()); got != "Benchmark"+r.Name {
				t.Errorf("benchmark %d is %s, want %s", n, got, r.Name)
			}
			if rec.GetConfig("commit") != "abc123" || rec.GetConfig("queue") != "priority" {
				t.Errorf("%s: config %v", r.Name, rec.Config)
			}
			if rec.Iters != int(r.Completed) {
				t.Errorf("%s: %d iterations, want %d", r.Name, rec.Iters, r.Completed)
			}
			// The reader tidies units: p50-ns becomes p50-sec, as
			// benchstat shows it.
			for _, unit := range []string{"tasks/s", "p50-sec", "p90-sec", "p99-sec", "p999-sec", "errors", "dead"} {
				if _, ok := rec.Value(unit); !ok {
					t.Errorf("%s: no %s in %v", r.Name, unit, rec.Values)
				}
			}
			n++
		}
	}
	if err := rd.Err(); err != nil || n != len(rep.Runs) {
		t.Fatalf("read %d benchmarks of %d: %v", n, len(rep.Runs), err)
	}

	buf.Reset()
	if err := rep.Write(&buf, loadgen.FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back loadgen.Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back.Runs) != len(rep.Runs) || back.Runs[0].Completed != rep.Runs[0].Completed {
		t.Fatalf("JSON round trip: %v, %+v", err, back)
	}

	buf.Reset()
	if err := rep.Write(&buf, loadgen.FormatSummary); err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Runs {
		if !strings.Contains(buf.String(), strings.TrimPrefix(r.Name, "Loadgen/")) {
			t.Errorf("summary lacks %s:\n%s", r.Name, buf.String())
		}
	}
}

// TestPasses: Count passes run the matrix over and over, point by point,
// and the bench format holds one sample per pass of each point under the
// same name, as benchstat wants them.
func TestPasses(t *testing.T) {
	s := startStack(t)
	s.startWorkers(t, 1, echo)
	cfg := s.config()
	cfg.Batch, cfg.Inflight = []int{1, 10}, []int{20}
	cfg.Tasks, cfg.WarmupTasks, cfg.Count = 100, 0, 3
	rep, err := loadgen.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	points := cfg.Points()
	if len(rep.Runs) != 3*len(points) {
		t.Fatalf("%d runs, want %d", len(rep.Runs), 3*len(points))
	}
	for i, r := range rep.Runs {
		if want := points[i%len(points)].Name(); r.Name != want || r.Pass != i/len(points)+1 {
			t.Errorf("run %d is %s pass %d, want %s pass %d", i, r.Name, r.Pass, want, i/len(points)+1)
		}
	}
	checkExact(t, rep, 100)

	var buf bytes.Buffer
	if err := rep.Write(&buf, loadgen.FormatBench); err != nil {
		t.Fatal(err)
	}
	samples := map[string]int{}
	rd := benchfmt.NewReader(&buf, "passes.txt")
	for rd.Scan() {
		if r, ok := rd.Result().(*benchfmt.Result); ok {
			samples[string(r.Name.Full())]++
		}
	}
	for _, p := range points {
		if samples[p.Name()] != 3 {
			t.Errorf("%s: %d samples, want 3 (%v)", p.Name(), samples[p.Name()], samples)
		}
	}
	buf.Reset()
	if err := rep.Write(&buf, loadgen.FormatSummary); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "pass") {
		t.Errorf("summary of several passes has no pass column:\n%s", buf.String())
	}
}

// TestSharedData: every batch requires the session's shared data, which
// the workers check.
func TestSharedData(t *testing.T) {
	s := startStack(t)
	s.startWorkers(t, 2, func(_ context.Context, task worker.Task) ([]byte, error) {
		if b, ok := task.SharedData.([]byte); !ok || len(b) != 2048 {
			return nil, fmt.Errorf("shared data %T of %d bytes", task.SharedData, len(b))
		}
		return task.Payload, nil
	})
	cfg := s.config()
	cfg.SharedData = []int{2048}
	cfg.Batch, cfg.Inflight = []int{20}, []int{200}
	cfg.Tasks, cfg.WarmupTasks = 500, 0
	rep, err := loadgen.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, rep, 500)
}

// TestDeadLetters: the tasks the workers fail are counted as dead letters,
// not as errors, also when they fill a closed loop's window.
func TestDeadLetters(t *testing.T) {
	s := startStack(t)
	// Tasks of 1-byte payloads all fail; of the others, one in 50.
	s.startWorkers(t, 2, func(_ context.Context, task worker.Task) ([]byte, error) {
		seq, _, _ := strings.Cut(task.ID, ".")
		if n, _ := strconv.Atoi(seq); n%50 == 7 || len(task.Payload) == 1 {
			return nil, errors.New("planted failure")
		}
		return task.Payload, nil
	})
	for _, tc := range []struct {
		payload, tasks, inflight int
		dead                     int64
	}{
		{payload: 64, tasks: 500, inflight: 100, dead: 10},
		{payload: 1, tasks: 40, inflight: 20, dead: 40},
	} {
		cfg := s.config()
		cfg.Payload, cfg.Batch, cfg.Inflight = []int{tc.payload}, []int{10}, []int{tc.inflight}
		cfg.Tasks, cfg.WarmupTasks = tc.tasks, 0
		rep, err := loadgen.Run(testCtx(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := rep.Runs[0]
		if r.Dead != tc.dead || r.Completed != int64(tc.tasks)-tc.dead || r.Sent != int64(tc.tasks) || r.Errors != 0 {
			t.Errorf("%s: dead %d completed %d sent %d errors %d, want %d, %d, %d, 0; %v", r.Name,
				r.Dead, r.Completed, r.Sent, r.Errors, tc.dead, int64(tc.tasks)-tc.dead, tc.tasks, r.ErrorSamples)
		}
	}
}

// TestDurationBound: a run bounded in time alone stops by itself and
// accounts for every task it sent. However slow the machine, there is
// warm-up (an open loop classifies a batch by its scheduled send time, and
// the first is due at 0) and a measured batch (Duration counts from the
// first measured send).
func TestDurationBound(t *testing.T) {
	s := startStack(t)
	s.startWorkers(t, 1, echo)
	cfg := s.config()
	cfg.Tasks, cfg.WarmupTasks = 0, 0
	cfg.Duration, cfg.Warmup = 300*time.Millisecond, 100*time.Millisecond
	cfg.Batch, cfg.Rate = []int{5}, []float64{1000}
	rep, err := loadgen.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	if r.Sent == 0 || r.Completed != r.Sent || r.WarmupSent == 0 || r.Errors != 0 {
		t.Fatalf("sent %d completed %d warm-up %d errors %d %v", r.Sent, r.Completed, r.WarmupSent, r.Errors, r.ErrorSamples)
	}
}

// TestFewerTasksThanSessions: sessions whose share of the tasks is zero
// send nothing and the run still ends.
func TestFewerTasksThanSessions(t *testing.T) {
	s := startStack(t)
	s.startWorkers(t, 1, echo)
	cfg := s.config()
	cfg.Sessions, cfg.Tasks, cfg.WarmupTasks = []int{3}, 2, 0
	rep, err := loadgen.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, rep, 2)
}

// TestNoWorkers: a closed loop whose window stays full gives up, and the
// tasks it sent count as lost.
func TestNoWorkers(t *testing.T) {
	s := startStack(t)
	cfg := s.config()
	cfg.Batch, cfg.Inflight = []int{10}, []int{20}
	cfg.Tasks, cfg.WarmupTasks = 100, 0
	cfg.DrainTimeout = time.Second
	rep, err := loadgen.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Runs[0]
	if r.Sent != 20 || r.Completed != 0 || r.Lost != 20 || r.Errors != 20 ||
		!strings.Contains(strings.Join(r.ErrorSamples, ";"), "stopped sending") {
		t.Fatalf("sent %d completed %d lost %d errors %d %q", r.Sent, r.Completed, r.Lost, r.Errors, r.ErrorSamples)
	}
	var buf bytes.Buffer
	if err := rep.Write(&buf, loadgen.FormatBench); err != nil || !strings.Contains(buf.String(), " 20 errors") {
		t.Fatalf("%v:\n%s", err, buf.String())
	}
}

func TestUnreachable(t *testing.T) {
	cfg := loadgen.DefaultConfig()
	cfg.QueueManager = "127.0.0.1:1" // nothing listens on port 1
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := loadgen.Run(ctx, cfg); err == nil {
		t.Fatal("Run against nothing succeeded")
	}
}

func TestUnary(t *testing.T) {
	s := startStack(t)
	cfg := loadgen.DefaultUnaryConfig()
	cfg.QueueManager, cfg.CentralCache = s.qm, s.cache
	cfg.Concurrency = []int{4}
	cfg.Total, cfg.WarmupCalls = 200, 20
	cfg.Labels = []loadgen.Label{{Key: "commit", Value: "abc123"}}
	for _, reflection := range []bool{false, true} {
		cfg.Reflection = reflection
		rep, err := loadgen.RunUnary(testCtx(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Runs) != 2 {
			t.Fatalf("%d runs, want 2", len(rep.Runs))
		}
		for _, r := range rep.Runs {
			if r.Calls != 200 || r.Errors != 0 || r.Latency.P50 <= 0 || r.CallsPerSec <= 0 {
				t.Errorf("reflection %v, %s: %d calls, %d errors %v, latency %+v", reflection, r.Name, r.Calls, r.Errors, r.ErrorSamples, r.Latency)
			}
		}
		var buf bytes.Buffer
		if err := rep.Write(&buf, loadgen.FormatBench); err != nil {
			t.Fatal(err)
		}
		rd := benchfmt.NewReader(&buf, "unary.txt")
		var names []string
		for rd.Scan() {
			if rec, ok := rd.Result().(*benchfmt.Result); ok {
				names = append(names, string(rec.Name.Full()))
				if _, ok := rec.Value("calls/s"); !ok || rec.GetConfig("commit") != "abc123" {
					t.Errorf("%s: %v %v", rec.Name.Full(), rec.Values, rec.Config)
				}
			}
		}
		want := "LoadgenUnary/call=CreateSession/concurrency=4/rps=0,LoadgenUnary/call=GetSharedData/concurrency=4/rps=0"
		if strings.Join(names, ",") != want {
			t.Errorf("benchmarks %v, want %s", names, want)
		}
	}

	// Bounded in time, at a capped rate: Duration counts from the first
	// measured call, so there is one however slow the machine.
	cfg.Total, cfg.Duration, cfg.Rate = 0, 300*time.Millisecond, []int{200}
	rep, err := loadgen.RunUnary(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Runs {
		if r.Calls == 0 || r.Errors != 0 {
			t.Errorf("%s: %d calls, %d errors %v", r.Name, r.Calls, r.Errors, r.ErrorSamples)
		}
	}
}

// TestTLSAndAPIKey: mutual TLS and an API key, for the task runs and for
// ghz; a wrong key is refused.
func TestTLSAndAPIKey(t *testing.T) {
	certs, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(sdk.EnvAPIKey, "sekret") // read by the services and the workers
	s := startStack(t, certs)
	s.startWorkersWith(t, 1, echo,
		[]worker.NodeCacheOption{worker.WithNodeCacheTLSFiles(certs.CACert, certs.ClientCert, certs.ClientKey)},
		[]worker.Option{worker.WithTLSFiles(certs.CACert, certs.ClientCert, certs.ClientKey)})
	target := loadgen.Target{QueueManager: s.qm, CentralCache: s.cache, TLS: true,
		CACert: certs.CACert, CertFile: certs.ClientCert, KeyFile: certs.ClientKey, APIKey: "sekret"}

	cfg := s.config()
	cfg.Target = target
	cfg.SharedData = []int{0, 100}
	cfg.Tasks, cfg.WarmupTasks = 200, 0
	rep, err := loadgen.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, rep, 200)

	u := loadgen.DefaultUnaryConfig()
	u.Target = target
	u.Concurrency, u.Total, u.WarmupCalls, u.Reflection = []int{2}, 50, 0, true
	ur, err := loadgen.RunUnary(testCtx(t), u)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ur.Runs {
		if r.Calls != 50 || r.Errors != 0 {
			t.Errorf("%s: %d calls, %d errors %v", r.Name, r.Calls, r.Errors, r.ErrorSamples)
		}
	}

	cfg.APIKey = "wrong"
	if _, err := loadgen.Run(testCtx(t), cfg); !errors.Is(err, client.ErrPermissionDenied) {
		t.Fatalf("wrong key: %v", err)
	}
	u.APIKey, u.Reflection, u.Calls = "wrong", false, []string{loadgen.CallCreateSession}
	ur, err = loadgen.RunUnary(testCtx(t), u)
	if err != nil {
		t.Fatal(err)
	}
	if r := ur.Runs[0]; r.Errors != r.Calls || !strings.Contains(strings.Join(r.ErrorSamples, ";"), "PermissionDenied") {
		t.Fatalf("wrong key: %d calls, %d errors %v", r.Calls, r.Errors, r.ErrorSamples)
	}
}
