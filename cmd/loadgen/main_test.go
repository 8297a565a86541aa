package main

import (
	"slices"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/loadgen"
)

// TestListFlags: list flags expand to the cartesian product of runs.
func TestListFlags(t *testing.T) {
	t.Setenv(loadgen.EnvQueueManagerAddr, "qm:1")
	cfg, f, err := parseRun([]string{"--batch", "1,10,100", "--sessions", "1,4", "--payload", "64,4Ki",
		"--inflight", "1000", "--rate", "5000,10000", "--format", "bench", "--label-queue", "lockfree",
		"--commit", "abc", "--label", "host=x", "--duration", "30s"})
	if err != nil {
		t.Fatal(err)
	}
	if f != loadgen.FormatBench || cfg.QueueManager != "qm:1" || cfg.Duration != 30*time.Second {
		t.Fatalf("format %q, queue manager %q, duration %v", f, cfg.QueueManager, cfg.Duration)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Points()); n != 3*2*2*(1+2) {
		t.Fatalf("%d runs, want 36", n)
	}
	want := []loadgen.Label{{Key: "queue", Value: "lockfree"}, {Key: "commit", Value: "abc"}, {Key: "host", Value: "x"}}
	if !slices.Equal(cfg.Labels, want) {
		t.Fatalf("labels %v, want %v", cfg.Labels, want)
	}

	for _, bad := range [][]string{{"--batch", "1,x"}, {"--format", "xml"}, {"--label", "novalue"}} {
		if _, _, err := parseRun(bad); err == nil {
			t.Errorf("parseRun(%q) accepted", bad)
		}
	}

	u, f, err := parseUnary([]string{"--calls", "CreateSession", "--concurrency", "1,50", "--rps", "0,100", "--format", "json"})
	if err != nil || f != loadgen.FormatJSON {
		t.Fatal(f, err)
	}
	if n := len(u.Points()); n != 4 {
		t.Fatalf("%d unary runs, want 4", n)
	}
}
