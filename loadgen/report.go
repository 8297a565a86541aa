package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/alpcrun/alpcrun/core/stats"
)

// Format is an output format of a report.
type Format string

// The formats of --format.
const (
	// FormatSummary is a table for people.
	FormatSummary Format = "summary"
	// FormatJSON is the report as one JSON document.
	FormatJSON Format = "json"
	// FormatBench is the Go benchmark format, for benchstat: configuration
	// lines (goos, goarch, cpu, commit, target, queue, ...), then one line
	// per point.
	FormatBench Format = "bench"
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatSummary, FormatJSON, FormatBench:
		return f, nil
	}
	return "", fmt.Errorf("loadgen: unknown format %q: want summary, json or bench", s)
}

// Latency summarises a latency histogram.
type Latency struct {
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

func latencyOf(h *stats.Histogram) Latency {
	return Latency{Mean: h.Mean(), P50: h.Quantile(0.50), P90: h.Quantile(0.90),
		P99: h.Quantile(0.99), P999: h.Quantile(0.999), Max: h.Max()}
}

// RunResult is what one point measured. Counts are tasks; only measured
// tasks (not warm-up) are in Sent, Completed and Latency.
type RunResult struct {
	Name  string `json:"name"`
	Mode  string `json:"mode"`
	Point Point  `json:"point"`
	// Pass is the pass over the matrix this run belongs to, from 1
	// (Config.Count).
	Pass int `json:"pass"`
	// Sent and Completed are the measured tasks submitted and answered.
	Sent       int64 `json:"sent"`
	Completed  int64 `json:"completed"`
	WarmupSent int64 `json:"warmup_sent"`
	// Dead are the tasks dead-lettered (warm-up included): failed by the
	// workers or out of attempts.
	Dead int64 `json:"dead"`
	// Lost are tasks sent that were neither answered nor dead-lettered by
	// the end of the drain; Duplicates are results delivered twice.
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
	// Errors counts the tasks that went wrong: lost, duplicated, or
	// answered under an id loadgen did not send.
	Errors       int64    `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Elapsed is from the first measured send to the last measured result;
	// TasksPerSec is Completed over it.
	Elapsed     time.Duration `json:"elapsed_ns"`
	TasksPerSec float64       `json:"tasks_per_sec"`
	Latency     Latency       `json:"latency"`

	hist *stats.Histogram
}

// Histogram is the merged latency histogram of the measured tasks.
func (r *RunResult) Histogram() *stats.Histogram { return r.hist }

// benchValues are the percentiles as Go benchmark metrics.
func (l Latency) benchValues() []benchfmt.Value {
	return []benchfmt.Value{
		{Value: float64(l.P50), Unit: "p50-ns"},
		{Value: float64(l.P90), Unit: "p90-ns"},
		{Value: float64(l.P99), Unit: "p99-ns"},
		{Value: float64(l.P999), Unit: "p999-ns"},
	}
}

// Report is the result of Run: the configuration lines and one RunResult
// per point, in the order of Config.Points.
type Report struct {
	Labels []Label     `json:"labels"`
	Runs   []RunResult `json:"runs"`
}

// Write writes r in format f.
func (r *Report) Write(w io.Writer, f Format) error {
	switch f {
	case FormatJSON:
		return writeJSON(w, r)
	case FormatBench:
		recs := make([]benchRecord, len(r.Runs))
		for i, run := range r.Runs {
			values := append([]benchfmt.Value{{Value: run.TasksPerSec, Unit: "tasks/s"}}, run.Latency.benchValues()...)
			recs[i] = benchRecord{name: run.Name, iters: run.Completed, values: append(values,
				benchfmt.Value{Value: float64(run.Errors), Unit: "errors"},
				benchfmt.Value{Value: float64(run.Dead), Unit: "dead"})}
		}
		return writeBench(w, r.Labels, recs, map[string]string{"tasks/s": "better=higher", "errors": "assume=exact", "dead": "assume=exact"})
	}
	// With several passes a pass column tells a point's runs apart.
	passes := slices.ContainsFunc(r.Runs, func(run RunResult) bool { return run.Pass > 1 })
	header := []string{"run", "tasks", "tasks/s", "p50", "p90", "p99", "p99.9", "max", "errors", "dead"}
	if passes {
		header = slices.Insert(header, 1, "pass")
	}
	rows := make([][]string, len(r.Runs))
	var notes []string
	for i, run := range r.Runs {
		l := run.Latency
		name := strings.TrimPrefix(run.Name, "Loadgen/")
		rows[i] = []string{name, fmt.Sprint(run.Completed), fmt.Sprintf("%.0f", run.TasksPerSec),
			short(l.P50), short(l.P90), short(l.P99), short(l.P999), short(l.Max), fmt.Sprint(run.Errors), fmt.Sprint(run.Dead)}
		if passes {
			rows[i] = slices.Insert(rows[i], 1, fmt.Sprint(run.Pass))
			name += fmt.Sprintf(" (pass %d)", run.Pass)
		}
		for _, e := range run.ErrorSamples {
			notes = append(notes, name+": "+e)
		}
	}
	return writeTable(w, r.Labels, header, rows, notes)
}

// benchRecord is one benchmark line.
type benchRecord struct {
	name   string
	iters  int64
	values []benchfmt.Value
}

// writeBench writes the Go benchmark format through benchfmt.Writer: the
// labels become file configuration lines, units get their metadata
// ("Unit tasks/s better=higher").
func writeBench(w io.Writer, labels []Label, recs []benchRecord, unitMeta map[string]string) error {
	bw := benchfmt.NewWriter(w)
	for _, unit := range slices.Sorted(maps.Keys(unitMeta)) {
		k, v, _ := strings.Cut(unitMeta[unit], "=")
		if err := bw.Write(&benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: unit, Key: k}, OrigUnit: unit, Value: v}); err != nil {
			return err
		}
	}
	cfg := make([]benchfmt.Config, len(labels))
	for i, l := range labels {
		cfg[i] = benchfmt.Config{Key: l.Key, Value: []byte(l.Value), File: true}
	}
	for _, rec := range recs {
		res := &benchfmt.Result{Config: cfg, Name: benchfmt.Name(rec.name), Iters: int(max(rec.iters, 1)), Values: rec.values}
		if err := bw.Write(res); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeTable writes the labels on one line, the rows as an aligned table
// and the notes (error samples) below it.
func writeTable(w io.Writer, labels []Label, header []string, rows [][]string, notes []string) error {
	var head []string
	for _, l := range labels {
		head = append(head, l.Key+": "+l.Value)
	}
	if len(head) > 0 {
		fmt.Fprintln(w, strings.Join(head, "  "))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, "error:", n)
	}
	return nil
}

// short rounds d to three significant digits.
func short(d time.Duration) string {
	unit := time.Duration(1)
	for d >= 1000*unit && unit < time.Second {
		unit *= 10
	}
	return d.Round(unit).String()
}

// labels are the configuration lines of a report: the machine, the commit
// loadgen was built from (when the build recorded it) and the target, then
// the caller's labels, which replace defaults of the same key.
func defaultLabels(target string, user []Label) []Label {
	out := []Label{{"goos", runtime.GOOS}, {"goarch", runtime.GOARCH}}
	if m := cpuModel(); m != "" {
		out = append(out, Label{"cpu", m})
	}
	if c := buildCommit(); c != "" {
		out = append(out, Label{"commit", c})
	}
	out = append(out, Label{"target", target})
	for _, u := range user {
		replaced := false
		for i := range out {
			if out[i].Key == u.Key {
				out[i].Value, replaced = u.Value, true
			}
		}
		if !replaced {
			out = append(out, u)
		}
	}
	return out
}

func (c *Config) labels() []Label { return defaultLabels(c.QueueManager, c.Labels) }

func buildCommit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}

// cpuModel is the processor's name as the Go benchmark format's "cpu:" line
// has it, where the system tells it (Linux).
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ParseLabel parses "key=value", for --label.
func ParseLabel(s string) (Label, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || strings.ContainsAny(k, " \t:") {
		return Label{}, fmt.Errorf("loadgen: bad label %q: want key=value", s)
	}
	return Label{Key: k, Value: v}, nil
}
