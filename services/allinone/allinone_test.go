package allinone

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/internal/servicetest"
	"github.com/alpcrun/alpcrun/services/catalog"
	"github.com/alpcrun/alpcrun/services/sdk/client"
	"github.com/alpcrun/alpcrun/services/sdk/worker"
)

func testCtx(t *testing.T) context.Context { return servicetest.Context(t) }

// loopback puts every service of cfg on a free loopback port, without HTTP.
func loopback(cfg *Config) {
	cfg.QueueManager.Listen, cfg.QueueManager.HTTPListen = "127.0.0.1:0", ""
	cfg.CentralCache.Listen, cfg.CentralCache.HTTPListen = "127.0.0.1:0", ""
	cfg.NodeCache.Listen, cfg.NodeCache.HTTPListen = "127.0.0.1:0", ""
	cfg.LogLevel = "error"
}

// TestDemo runs the demo end to end on an in-process cluster and checks the
// Monte Carlo price against Black-Scholes.
func TestDemo(t *testing.T) {
	cfg := DefaultDemoConfig()
	cfg.Paths, cfg.TaskPaths, cfg.Workers = 100_000, 1_000, 2
	var progress bytes.Buffer
	r, err := Demo(testCtx(t), cfg, &progress, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tasks != 100 || r.Latency.Count() != 100 {
		t.Fatalf("%d tasks, %d latencies, want 100", r.Tasks, r.Latency.Count())
	}
	// The standard error of 5·10^4 antithetic pairs is about 0.03; one
	// that is far off means the sums were pooled wrongly.
	if !(r.StdErr > 0.01 && r.StdErr < 0.1) {
		t.Fatalf("standard error %v, want about 0.03", r.StdErr)
	}
	if math.Abs(r.Sigmas()) > 3 {
		t.Fatalf("Monte Carlo %.5f ± %.5f is %.2f s.e. from Black-Scholes %.5f", r.Price, r.StdErr, r.Sigmas(), r.BlackScholes)
	}
	if !strings.Contains(progress.String(), "100% 100k/100k paths") {
		t.Errorf("progress does not reach 100%%:\n%s", progress.String())
	}
	var out bytes.Buffer
	if err := r.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Monte Carlo", "Black-Scholes  10.45058", "within 3 s.e.", "tasks/s", "p99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestUp starts the cluster of `alpcrun up`, runs tasks through it and
// stops it.
func TestUp(t *testing.T) {
	ctx := testCtx(t)
	cfg := DefaultUpConfig()
	loopback(&cfg.Config)
	cfg.Workers = 2
	cctx, stop := context.WithCancel(ctx)
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Up(cctx, cfg, ready) }()
	var a Addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatal(err)
	}

	c, err := client.Dial(ctx, a.QueueManager)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.CreateSession(ctx, client.SessionOptions{AppID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// Raw payloads run as the workers' default task (echo); payloads that
	// name a kind run that kind, and a kind no worker knows is dead-lettered.
	const n, samples = 20, 100_000
	for i := range n {
		if err := s.Submit(ctx, strconv.Itoa(i), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Submit(ctx, "pi", catalog.Payload("pi", []byte(strconv.Itoa(samples)))); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(ctx, "unknown", catalog.Payload("frobnicate", []byte("1"))); err != nil {
		t.Fatal(err)
	}
	s.CloseSend()
	got := 0
	for r := range s.Results() {
		switch r.ID {
		case "unknown":
			t.Fatalf("a task of an unknown kind was answered %q", r.Payload)
		case "pi":
			hits, err := strconv.ParseUint(string(r.Payload), 10, 64)
			// 4·hits/samples has a standard deviation of about 0.005.
			if est := 4 * float64(hits) / samples; err != nil || math.Abs(est-math.Pi) > 0.05 {
				t.Fatalf("pi task answered %q", r.Payload)
			}
		default:
			if string(r.Payload) != r.ID {
				t.Fatalf("task %s echoed %q", r.ID, r.Payload)
			}
		}
		got++
	}
	if err := s.Wait(ctx); err != nil || got != n+1 {
		t.Fatalf("%d of %d results, stream ended with %v", got, n+1, err)
	}
	dead, err := s.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != "unknown" || !strings.Contains(dead[0].Error, "unknown task") {
		t.Fatalf("dead letters %+v, want the unknown task's", dead)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("cluster did not stop")
	}
}

// TestRunPortInUse checks that a service that cannot start fails Run, and
// the services already started are stopped.
func TestRunPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := DefaultConfig()
	loopback(&cfg)
	cfg.QueueManager.Listen = l.Addr().String()
	err = Run(testCtx(t), cfg, Task{Handler: func(context.Context, worker.Task) ([]byte, error) { return nil, nil }}, nil)
	if err == nil || !strings.Contains(err.Error(), "queue manager") {
		t.Fatalf("Run with a taken port: %v", err)
	}
}

func TestLoadConfigNamesEveryBadKey(t *testing.T) {
	_, err := LoadUpConfig(flag.NewFlagSet("up", flag.ContinueOnError),
		[]string{"--queueManager.bufferSize", "0", "--nodeCache.listen", "nowhere", "--workers", "-1", "--task", "nap"},
		func(string) (string, bool) { return "", false })
	for _, key := range []string{"queueManager.bufferSize", "nodeCache.listen", "workers", "task"} {
		if err == nil || !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}

	env := map[string]string{"ALPCRUNCH_CENTRALCACHE_MAXTTL": "1m"}
	cfg, err := LoadDemoConfig(flag.NewFlagSet("demo", flag.ContinueOnError),
		[]string{"--queueManager.queueType", "lockfree", "--paths", "2000", "--strike", "90"},
		func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QueueManager.QueueType != "lockfree" || cfg.CentralCache.MaxTTL != time.Minute || cfg.Paths != 2000 ||
		cfg.Strike != 90 || cfg.QueueManager.Listen != "127.0.0.1:0" {
		t.Fatalf("config %+v", cfg)
	}
	_, err = LoadDemoConfig(flag.NewFlagSet("demo", flag.ContinueOnError),
		[]string{"--paths", "3", "--vol", "0", "--queueManagerAddr", "localhost:1337"},
		func(string) (string, bool) { return "", false })
	for _, key := range []string{"paths", "vol", "centralCacheAddr"} {
		if err == nil || !strings.Contains(err.Error(), "config: "+key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
	if !errors.Is(Run(t.Context(), DefaultConfig(), Task{}, nil), errNoHandler) {
		t.Error("workers without a handler accepted")
	}
}

func TestSI(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 950: "950", 999.96: "1k", 4321: "4.3k", 1e7: "10M", 2.5e9: "2.5G"} {
		if got := si(x); got != want {
			t.Errorf("si(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"[::]:1337": "localhost:1337", ":1337": "localhost:1337", "0.0.0.0:1337": "127.0.0.1:1337",
		"127.0.0.1:5": "127.0.0.1:5", "host:7": "host:7",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDemoOnExternalCluster runs the demo's workload on a cluster started
// as `alpcrun up` is: its workers default to echo, and run the demo's tasks
// as european because their payloads say so.
func TestDemoOnExternalCluster(t *testing.T) {
	ctx := testCtx(t)
	up := DefaultUpConfig()
	loopback(&up.Config)
	up.Workers = 2
	cctx, stop := context.WithCancel(ctx)
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Up(cctx, up, ready) }()
	var a Addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}()

	cfg := DefaultDemoConfig()
	cfg.Paths, cfg.TaskPaths, cfg.Inflight = 20_000, 2_000, 3
	cfg.QueueManagerAddr, cfg.CentralCacheAddr = a.QueueManager, a.CentralCache
	r, err := Demo(ctx, cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tasks != 10 || r.Workers != 0 || math.Abs(r.Sigmas()) > 3 {
		t.Fatalf("report %+v", r)
	}
}

// TestUpOnLoopback: `alpcrun up` offers nothing to the network by default.
func TestUpOnLoopback(t *testing.T) {
	c := DefaultUpConfig()
	for _, a := range []string{c.QueueManager.Listen, c.QueueManager.HTTPListen, c.CentralCache.Listen,
		c.CentralCache.HTTPListen, c.NodeCache.Listen, c.NodeCache.HTTPListen} {
		if host, _, _ := net.SplitHostPort(a); host != "127.0.0.1" {
			t.Errorf("alpcrun up listens on %q, want 127.0.0.1", a)
		}
	}
	if c.QueueManager.Listen != "127.0.0.1:1337" || c.QueueManager.HTTPListen != "127.0.0.1:1338" {
		t.Errorf("queue manager on %s and %s, want the standard ports", c.QueueManager.Listen, c.QueueManager.HTTPListen)
	}
}
