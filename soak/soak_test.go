package soak

import (
	"context"
	"encoding/csv"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alpcrun/alpcrun/services/queuemanager"
)

// childEnv makes the test binary serve a queue manager instead of running
// the tests, so that the tests exercise the child-process path of cmd/soak.
const childEnv = "ALPCRUN_SOAK_TEST_QM"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := ServeQM(context.Background(), queuemanager.DefaultOptions(), os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startQM(t *testing.T) *QM {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	qm, err := StartQM(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(qm.Close)
	return qm
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestSoak runs a short soak against a child queue manager and checks what
// it reports and writes. Whether RSS stayed within bounds is not asserted:
// three seconds under the race detector say nothing about leaks.
func TestSoak(t *testing.T) {
	qm := startQM(t)
	cfg := DefaultConfig()
	cfg.Duration, cfg.Probe, cfg.Interval, cfg.Churn = 3*time.Second, time.Second, time.Second, 400*time.Millisecond
	cfg.Workers, cfg.Window = 2, 512
	rep, err := Run(testContext(t), qm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxRate <= 0 || rep.Rate != rep.MaxRate*cfg.Load {
		t.Errorf("max %g, rate %g: want rate = %g x max > 0", rep.MaxRate, rep.Rate, cfg.Load)
	}
	if len(rep.Intervals) != 3 {
		t.Errorf("%d intervals, want 3: %+v", len(rep.Intervals), rep.Intervals)
	}
	var rate float64
	for _, iv := range rep.Intervals {
		rate += iv.TasksPerSec
		if iv.TasksPerSec < 0 || iv.P99 < iv.P50 || iv.RSS <= 0 || iv.HeapAlloc == 0 || iv.Goroutines == 0 {
			t.Errorf("interval with a bad figure: %+v", iv)
		}
	}
	if rate == 0 {
		t.Errorf("no interval counted a result: %+v", rep.Intervals)
	}
	if rep.Sent == 0 || rep.Received != rep.Sent || rep.Duplicates != 0 || rep.Dead != 0 || len(rep.Errors) != 0 {
		t.Errorf("sent %d, received %d, duplicates %d, dead %d, errors %q", rep.Sent, rep.Received, rep.Duplicates, rep.Dead, rep.Errors)
	}
	if rep.WarmRSS <= 0 || rep.EndRSS <= 0 || rep.WarmAt <= 0 || rep.EndAt < rep.WarmAt {
		t.Errorf("RSS readings %d at %v, %d at %v", rep.WarmRSS, rep.WarmAt, rep.EndRSS, rep.EndAt)
	}
	if rep.Joined <= cfg.Workers || rep.Left == 0 {
		t.Errorf("workers joined %d, left %d: no churn", rep.Joined, rep.Left)
	}

	dir := t.TempDir()
	files, err := WriteOutputs(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Errorf("wrote %q; want the CSV, the plot and two heap profiles", files)
	}
	f, err := os.Open(filepath.Join(dir, "soak.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 1+len(rep.Intervals) {
		t.Errorf("soak.csv: %d rows, %v; want a header and one row per interval", len(rows), err)
	}
	p, err := os.Open(filepath.Join(dir, "soak.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := png.Decode(p); err != nil {
		t.Errorf("soak.png: %v", err)
	}
}

// TestScale registers a few workers and sessions on a child queue manager
// and checks the figures are all there; the decision-time bound is not
// asserted (see TestFailures for the judgement itself).
func TestScale(t *testing.T) {
	qm := startQM(t)
	cfg := DefaultScaleConfig()
	cfg.Sessions, cfg.Workers, cfg.Events, cfg.Timeout = 100, 10, 2000, time.Minute
	r, err := RunScale(testContext(t), qm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors: %q", r.Errors)
	}
	if int(r.WithWorkers.Workers["idle"]+r.WithWorkers.Workers["bound"]) != cfg.Workers || int(r.WithSessions.Sessions) != cfg.Sessions {
		t.Errorf("queue manager saw workers %v and %g sessions, want %d and %d",
			r.WithWorkers.Workers, r.WithSessions.Sessions, cfg.Workers, cfg.Sessions)
	}
	if done := r.AfterRound.Tasks["done"]; int(done) != cfg.Sessions {
		t.Errorf("%g tasks done, want one per session (%d)", done, cfg.Sessions)
	}
	if r.Round <= 0 || r.RoundP50 <= 0 || r.RoundP99 < r.RoundP50 {
		t.Errorf("round %v, p50 %v, p99 %v", r.Round, r.RoundP50, r.RoundP99)
	}
	if r.Events < cfg.Events || r.Decisions == 0 || r.DecisionP50 <= 0 || r.DecisionP99 < r.DecisionP50 || r.DecisionMax < r.DecisionP99 {
		t.Errorf("replay: %d events, %d decisions, p50 %v p99 %v max %v", r.Events, r.Decisions, r.DecisionP50, r.DecisionP99, r.DecisionMax)
	}
	var out strings.Builder
	r.Write(&out)
	for _, want := range []string{"per worker", "per session", "scheduler per event"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFailures(t *testing.T) {
	ok := Report{Sent: 10, Received: 10, WarmRSS: 100 << 20, EndRSS: 105 << 20, Tolerance: 0.1}
	for _, tc := range []struct {
		name string
		edit func(*Report)
		want string // substring of the only failure; "" for none
	}{
		{"pass", func(*Report) {}, ""},
		{"shrink passes", func(r *Report) { r.EndRSS = 50 << 20 }, ""},
		{"at the limit", func(r *Report) { r.EndRSS = 110 << 20 }, ""},
		{"grew", func(r *Report) { r.EndRSS = 111 << 20 }, "RSS grew 11.0%"},
		{"lost", func(r *Report) { r.Received = 9 }, "1 of 10 results lost"},
		{"duplicates", func(r *Report) { r.Duplicates = 2 }, "2 duplicate results"},
		{"dead", func(r *Report) { r.Dead = 3 }, "3 dead letters"},
		{"error", func(r *Report) { r.Errors = []string{"worker: boom"} }, "worker: boom"},
		{"unmeasured", func(r *Report) { r.EndRSS = 0 }, "RSS was not measured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			f := r.Failures()
			if tc.want == "" && len(f) != 0 || tc.want != "" && (len(f) != 1 || !strings.Contains(f[0], tc.want)) {
				t.Errorf("failures %q, want %q", f, tc.want)
			}
			var out strings.Builder
			r.Write(&out)
			if pass := strings.HasSuffix(out.String(), "soak: PASS\n"); pass != (tc.want == "") {
				t.Errorf("summary:\n%s", out.String())
			}
		})
	}

	s := ScaleReport{DecisionP99: time.Millisecond, MaxDecisionP99: time.Millisecond}
	if f := s.Failures(); len(f) != 1 || !strings.Contains(f[0], "not below 1ms") {
		t.Errorf("scale failures %q, want the p99 bound", f)
	}
	s.DecisionP99 = 999 * time.Microsecond
	if f := s.Failures(); len(f) != 0 {
		t.Errorf("scale failures %q, want none", f)
	}
}

func TestValidate(t *testing.T) {
	var c Config
	err := c.Validate()
	for _, key := range []string{"duration", "probe", "load", "interval", "warmup", "tolerance", "workers", "churn", "window"} {
		if err == nil || !strings.Contains(err.Error(), key+" must") {
			t.Errorf("zero Config: %v; want a complaint about %s", err, key)
		}
	}
	if c := DefaultConfig(); c.Validate() != nil {
		t.Errorf("DefaultConfig: %v", c.Validate())
	}
	var s ScaleConfig
	err = s.Validate()
	for _, key := range []string{"sessions", "workers", "parallel", "events", "max decision p99", "timeout"} {
		if err == nil || !strings.Contains(err.Error(), key+" must") {
			t.Errorf("zero ScaleConfig: %v; want a complaint about %s", err, key)
		}
	}
	if s := DefaultScaleConfig(); s.Validate() != nil {
		t.Errorf("DefaultScaleConfig: %v", s.Validate())
	}
}

func TestProcStatus(t *testing.T) {
	rss, hwm, err := procStatus()
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || hwm < rss {
		t.Errorf("VmRSS %d, VmHWM %d", rss, hwm)
	}
}
