package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/loadgen"
	"github.com/alpcrun/alpcrun/services/sdk"
)

// TestListFlags: list flags expand to the cartesian product of runs.
func TestListFlags(t *testing.T) {
	t.Setenv(sdk.EnvQueueManagerAddr, "qm:1")
	cfg, o, err := parseRun([]string{"--batch", "1,10,100", "--sessions", "1,4", "--payload", "64,4Ki",
		"--inflight", "1000", "--rate", "5000,10000", "--format", "bench", "--label-queue", "lockfree",
		"--commit", "abc", "--label", "host=x", "--duration", "30s", "--count", "3", "--out", "a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if o != (options{loadgen.FormatBench, "a.txt"}) || cfg.QueueManager != "qm:1" || cfg.Duration != 30*time.Second || cfg.Count != 3 {
		t.Fatalf("output %+v, queue manager %q, duration %v, count %d", o, cfg.QueueManager, cfg.Duration, cfg.Count)
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

	for _, bad := range [][]string{{"--batch", "1,x"}, {"--format", "xml"}, {"--label", "novalue"}, {"--count", "x"}} {
		if _, _, err := parseRun(bad); err == nil {
			t.Errorf("parseRun(%q) accepted", bad)
		}
	}

	u, o, err := parseUnary([]string{"--calls", "CreateSession", "--concurrency", "1,50", "--rps", "0,100", "--format", "json"})
	if err != nil || o.format != loadgen.FormatJSON {
		t.Fatal(o, err)
	}
	if n := len(u.Points()); n != 4 {
		t.Fatalf("%d unary runs, want 4", n)
	}
}

// TestOutput: with --out the report goes to the file in its format and the
// summary to stdout, also when the run was interrupted.
func TestOutput(t *testing.T) {
	rep := &loadgen.Report{
		Labels: []loadgen.Label{{Key: "target", Value: "up"}},
		Runs: []loadgen.RunResult{
			{Name: "Loadgen/batch=1", Pass: 1, Completed: 10, TasksPerSec: 100},
			{Name: "Loadgen/batch=1", Pass: 2, Completed: 12, TasksPerSec: 120},
		},
	}
	file := filepath.Join(t.TempDir(), "a.txt")
	var stdout bytes.Buffer
	err := output(rep, len(rep.Runs), options{loadgen.FormatBench, file}, &stdout, context.Canceled)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("output returned %v, want the run's error", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "BenchmarkLoadgen/batch=1 "); got != 2 || !strings.Contains(string(b), "target: up") {
		t.Errorf("%d benchmark lines in the file, want 2 and the target:\n%s", got, b)
	}
	sum := stdout.String()
	if !strings.Contains(sum, "target: up") || !strings.Contains(sum, "pass") || strings.Contains(sum, "Benchmark") {
		t.Errorf("stdout is not the summary with a pass column:\n%s", sum)
	}

	stdout.Reset()
	if err := output(rep, len(rep.Runs), options{loadgen.FormatBench, ""}, &stdout, nil); err != nil || !strings.Contains(stdout.String(), "BenchmarkLoadgen/batch=1 ") {
		t.Errorf("without --out: %v\n%s", err, stdout.String())
	}
	if err := output(rep, len(rep.Runs), options{loadgen.FormatBench, filepath.Join(file, "no")}, &stdout, nil); err == nil {
		t.Error("an unwritable --out was not reported")
	}
}
