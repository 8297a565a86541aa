package main

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Two -count runs of a queue-like suite, printed out of order, plus lines
// that must not count: a PASS trailer, a log line, another benchmark without
// the plotted keys.
const sample = `goos: linux
goarch: amd64
pkg: github.com/alpcrun/alpcrun/core/queue
cpu: Test CPU @ 1.00GHz
BenchmarkQueue/impl=lockfree/prod=16/cons=1/batch=1-2   	 100	 300 ns/op	 3333333 items/s	 0 B/op	 0 allocs/op
BenchmarkQueue/impl=lockfree/prod=4/cons=4/batch=1-2    	 100	 200 ns/op	 5000000 items/s	 0 B/op	 0 allocs/op
BenchmarkQueue/impl=mutex/prod=4/cons=4/batch=1-2       	 100	 400 ns/op	 2500000 items/s	 16 B/op	 1 allocs/op
BenchmarkQueue/impl=lockfree/prod=4/cons=16/batch=64-2  	 100	 50 ns/op	 20000000 items/s	 0 B/op	 0 allocs/op
BenchmarkIdle/impl=mutex-2                              	 10	 100000000 ns/op	 0.25 cpu%
    queue_bench_test.go:42: some log output
BenchmarkQueue/impl=lockfree/prod=16/cons=1/batch=1-2   	 100	 100 ns/op	 10000000 items/s	 0 B/op	 0 allocs/op
BenchmarkQueue/impl=lockfree/prod=4/cons=4/batch=1-2    	 100	 220 ns/op	 4545454 items/s	 0 B/op	 0 allocs/op
BenchmarkQueue/impl=mutex/prod=4/cons=4/batch=1-2       	 100	 410 ns/op	 2439024 items/s	 16 B/op	 1 allocs/op
BenchmarkQueue/impl=lockfree/prod=16/cons=1/batch=1-2   	 100	 200 ns/op	 5000000 items/s	 0 B/op	 0 allocs/op
BenchmarkE2E/impl=fifo/workers=2-2                      	 10	 5000 ns/op	 1500 p50-ns	 90000 p99-ns
PASS
ok  	github.com/alpcrun/alpcrun/core/queue	1.234s
`

func read(t *testing.T, metric string, filter []cond) []point {
	t.Helper()
	pts, bad, err := readPoints(strings.NewReader(sample), "sample", metric, filter)
	if err != nil || len(bad) != 0 {
		t.Fatal(err, bad)
	}
	return pts
}

func TestReadPointsKeys(t *testing.T) {
	pts := read(t, "ns/op", nil)
	if len(pts) != 10 {
		t.Fatalf("got %d points, want 10 (every result reports ns/op)", len(pts))
	}
	want := map[string]string{
		".name": "Queue", "impl": "lockfree", "prod": "16", "cons": "1", "batch": "1",
		"gomaxprocs": "2", "goos": "linux", "goarch": "amd64",
		"pkg": "github.com/alpcrun/alpcrun/core/queue", "cpu": "Test CPU @ 1.00GHz",
	}
	if !reflect.DeepEqual(pts[0].keys, want) {
		t.Errorf("keys = %v, want %v", pts[0].keys, want)
	}
	if pts[0].value != 300 {
		t.Errorf("value = %g, want 300 in ns/op, not benchfmt's sec/op", pts[0].value)
	}
}

func TestReadPointsSkipsMalformed(t *testing.T) {
	in := "BenchmarkQueue/impl=fifo-2 \t--- FAIL: BenchmarkQueue/impl=fifo\n" +
		"BenchmarkQueue/impl=mutex-2 \t 10\t 5 ns/op\n"
	pts, bad, err := readPoints(strings.NewReader(in), "in", "ns/op", nil)
	if err != nil || len(bad) != 1 || len(pts) != 1 || pts[0].keys["impl"] != "mutex" {
		t.Errorf("readPoints = %+v, bad %v, err %v; want the mutex point and one bad line", pts, bad, err)
	}
}

func TestReadPointsMetricAndFilter(t *testing.T) {
	if pts := read(t, "cpu%", nil); len(pts) != 1 || pts[0].value != 0.25 {
		t.Errorf("cpu%%: got %+v, want one point of 0.25", pts)
	}
	// p50-ns is tidied by benchfmt to p50-sec; both spellings work.
	if pts := read(t, "p50-ns", nil); len(pts) != 1 || pts[0].value != 1500 {
		t.Errorf("p50-ns: got %+v, want one point of 1500", pts)
	}
	if pts := read(t, "p50-sec", nil); len(pts) != 1 || pts[0].value != 1500e-9 {
		t.Errorf("p50-sec: got %+v, want one point of 1.5e-6", pts)
	}
	for filter, want := range map[string]int{
		".name=Queue,impl=mutex":  2,
		".name=Queue,impl!=mutex": 6,
		"batch!=1":                3, // 64 once, and Idle and E2E, which lack batch
		"batch=1,prod!=16":        4,
		"impl=mutex|lockfree":     9, // every Queue run and Idle's
		"prod!=16|1":              7, // all but the three prod=16 runs
	} {
		f, err := parseFilter(filter)
		if err != nil {
			t.Fatal(err)
		}
		if pts := read(t, "ns/op", f); len(pts) != want {
			t.Errorf("filter %s: got %d points, want %d", filter, len(pts), want)
		}
	}
	if pts := read(t, "no-such-unit", nil); len(pts) != 0 {
		t.Errorf("unknown metric: got %d points, want 0", len(pts))
	}
}

func TestGroup(t *testing.T) {
	pts := read(t, "ns/op", nil)
	g, skipped := group(pts, spec{X: []string{"prod", "cons"}, Series: []string{"impl"}, Panel: []string{"batch"}})
	if skipped != 2 {
		t.Errorf("skipped = %d, want 2 (Idle and E2E lack prod/cons/batch)", skipped)
	}
	// Composite numeric labels sort by component; impl keeps run order.
	if want := []string{"4x4", "4x16", "16x1"}; !reflect.DeepEqual(g.X, want) {
		t.Errorf("X = %v, want %v", g.X, want)
	}
	if want := []string{"lockfree", "mutex"}; !reflect.DeepEqual(g.Series, want) {
		t.Errorf("Series = %v, want %v", g.Series, want)
	}
	if want := []string{"batch=1", "batch=64"}; !reflect.DeepEqual(g.Panels, want) {
		t.Errorf("Panels = %v, want %v", g.Panels, want)
	}
	want := map[cell]stat{
		{Panel: "batch=1", Series: "lockfree", X: "16x1"}:  {Median: 200, Min: 100, Max: 300, N: 3},
		{Panel: "batch=1", Series: "lockfree", X: "4x4"}:   {Median: 210, Min: 200, Max: 220, N: 2},
		{Panel: "batch=1", Series: "mutex", X: "4x4"}:      {Median: 405, Min: 400, Max: 410, N: 2},
		{Panel: "batch=64", Series: "lockfree", X: "4x16"}: {Median: 50, Min: 50, Max: 50, N: 1},
	}
	if !reflect.DeepEqual(g.Cells, want) {
		t.Errorf("Cells = %v, want %v", g.Cells, want)
	}
}

func TestGroupWithoutSeriesOrPanel(t *testing.T) {
	g, skipped := group(read(t, "ns/op", nil), spec{X: []string{".name"}})
	if skipped != 0 {
		t.Errorf("skipped = %d, want 0", skipped)
	}
	if want := []string{"Queue", "Idle", "E2E"}; !reflect.DeepEqual(g.X, want) {
		t.Errorf("X = %v, want %v (first appearance)", g.X, want)
	}
	if st := g.Cells[cell{X: "Queue"}]; st.N != 8 || st.Median != 210 {
		t.Errorf("Queue cell = %+v, want 8 runs with median 210", st)
	}
}

func TestParseFilter(t *testing.T) {
	f, err := parseFilter("impl=lockfree, batch!=64,prod=1|4")
	want := []cond{{key: "impl", values: []string{"lockfree"}}, {key: "batch", values: []string{"64"}, neg: true}, {key: "prod", values: []string{"1", "4"}}}
	if err != nil || !reflect.DeepEqual(f, want) {
		t.Errorf("parseFilter = %+v, %v; want %+v", f, err, want)
	}
	for _, bad := range []string{"impl", "=x", "!=x"} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("parseFilter(%q): want an error", bad)
		}
	}
}

// e2eSample is two passes of an end-to-end suite: the relay and two
// queue-manager rows per shape, and a row whose shape the relay lacks.
const e2eSample = `BenchmarkE2EMatrix/impl=relay/policy=none/workers=1/batch=100-2      	 100	 1000 ns/op	 1000000 tasks/s
BenchmarkE2EMatrix/impl=relay/policy=none/workers=4/batch=100-2      	 100	 500 ns/op	 2000000 tasks/s
BenchmarkE2EMatrix/impl=priority/policy=priority/workers=1/batch=100-2	 100	 1250 ns/op	 800000 tasks/s
BenchmarkE2EMatrix/impl=priority/policy=fairshare/workers=1/batch=100-2	 100	 1430 ns/op	 700000 tasks/s
BenchmarkE2EMatrix/impl=priority/policy=priority/workers=4/batch=100-2	 100	 625 ns/op	 1600000 tasks/s
BenchmarkE2EMatrix/impl=priority/policy=priority/workers=16/batch=100-2	 100	 625 ns/op	 1600000 tasks/s
BenchmarkE2EMatrix/impl=relay/policy=none/workers=1/batch=100-2      	 100	 1000 ns/op	 1000000 tasks/s
BenchmarkE2EMatrix/impl=relay/policy=none/workers=4/batch=100-2      	 100	 500 ns/op	 3000000 tasks/s
BenchmarkE2EMatrix/impl=priority/policy=priority/workers=1/batch=100-2	 100	 1110 ns/op	 900000 tasks/s
BenchmarkE2EMatrix/impl=priority/policy=fairshare/workers=1/batch=100-2	 100	 1430 ns/op	 700000 tasks/s
BenchmarkE2EMatrix/impl=priority/policy=priority/workers=4/batch=100-2	 100	 625 ns/op	 1600000 tasks/s
`

// TestRatio divides each queue-manager run by the median of the relay
// runs of its shape, ignoring the policy, which the relay lacks.
func TestRatio(t *testing.T) {
	pts, _, err := readPoints(strings.NewReader(e2eSample), "e2e", "tasks/s", nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRatio("impl=relay", "workers,batch")
	if err != nil {
		t.Fatal(err)
	}
	pts, missing := r.apply(pts)
	if missing != 1 {
		t.Errorf("missing = %d, want 1 (workers=16 has no relay row)", missing)
	}
	g, _ := group(pts, spec{X: []string{"workers"}, Series: []string{"policy"}})
	want := map[cell]stat{
		{Series: "priority", X: "1"}:  {Median: 0.85, Min: 0.8, Max: 0.9, N: 2},
		{Series: "fairshare", X: "1"}: {Median: 0.7, Min: 0.7, Max: 0.7, N: 2},
		{Series: "priority", X: "4"}:  {Median: 0.64, Min: 0.64, Max: 0.64, N: 2}, // over the relay's median, 2.5M
	}
	if len(g.Cells) != len(want) {
		t.Errorf("cells = %v, want %v", g.Cells, want)
	}
	for c, w := range want {
		got := g.Cells[c]
		if got.N != w.N || math.Abs(got.Median-w.Median) > 1e-9 || math.Abs(got.Min-w.Min) > 1e-9 || math.Abs(got.Max-w.Max) > 1e-9 {
			t.Errorf("%+v = %+v, want %+v", c, got, w)
		}
	}
}

// TestRunRatio draws a ratio plot from a file, as scripts/bench.sh does,
// and fails when the filter drops the references.
func TestRunRatio(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "e2e.txt")
	if err := os.WriteFile(in, []byte(e2eSample), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := parseRatio("impl=relay", "workers,batch")
	if err != nil {
		t.Fatal(err)
	}
	o := options{in: in, out: filepath.Join(dir, "ratio.png"), metric: "tasks/s", kind: "point", ratio: r,
		spec: spec{X: []string{"workers", "batch"}, Series: []string{"impl", "policy"}}}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(o.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.DecodeConfig(f); err != nil {
		t.Errorf("ratio.png: %v", err)
	}
	if o.filter, err = parseFilter("impl=priority"); err != nil {
		t.Fatal(err)
	}
	if err := run(o); err == nil {
		t.Error("run with the references filtered out: want an error")
	}
}

func TestParseRatio(t *testing.T) {
	if r, err := parseRatio("", ""); r != nil || err != nil {
		t.Errorf("no -ratio: got %+v, %v; want nil, nil", r, err)
	}
	for _, bad := range [][2]string{{"impl=relay", ""}, {"impl", "workers"}, {"=relay", "workers"}, {"", "workers"}} {
		if _, err := parseRatio(bad[0], bad[1]); err == nil {
			t.Errorf("parseRatio(%q, %q): want an error", bad[0], bad[1])
		}
	}
}

// TestRender draws every chart kind to both formats and checks that the PNG
// decodes with the figure's size.
func TestRender(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		out, metric, kind string
		s                 spec
		logY              bool
	}{
		{"queue.png", "ns/op", "line", spec{X: []string{"prod", "cons"}, Series: []string{"impl"}, Panel: []string{"batch"}}, true},
		{"queue.svg", "items/s", "line", spec{X: []string{"prod", "cons"}, Series: []string{"impl"}, Panel: []string{"batch"}}, false},
		{"idle.png", "cpu%", "bar", spec{X: []string{"impl"}}, false},
		{"points.png", "ns/op", "point", spec{X: []string{"prod", "cons"}, Series: []string{"impl"}}, false},
	}
	for _, tc := range cases {
		g, _ := group(read(t, tc.metric, nil), tc.s)
		out := filepath.Join(dir, tc.out)
		c := chart{kind: tc.kind, title: tc.out, metric: tc.metric, xLabel: "x", seriesKey: strings.Join(tc.s.Series, "/"), logY: tc.logY}
		if tc.kind == "point" {
			one := 1.0
			c.ref = &one
		}
		if err := render(g, c, out); err != nil {
			t.Fatalf("%s: %v", tc.out, err)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(tc.out, ".png") {
			cfg, err := png.DecodeConfig(f)
			if err != nil || cfg.Width < 600 || cfg.Height < 400 {
				t.Errorf("%s: decoded %+v, %v; want a PNG of at least 600x400", tc.out, cfg, err)
			}
		} else if fi, err := f.Stat(); err != nil || fi.Size() == 0 {
			t.Errorf("%s: empty or unreadable: %v", tc.out, err)
		}
		f.Close()
	}
}

func TestRenderLogYRejectsZero(t *testing.T) {
	g, _ := group(read(t, "B/op", nil), spec{X: []string{"impl"}})
	err := render(g, chart{kind: "line", metric: "B/op", xLabel: "impl", logY: true}, filepath.Join(t.TempDir(), "x.png"))
	if err == nil || !strings.Contains(err.Error(), "positive") {
		t.Errorf("render with -logy over zeros: err = %v, want a positive-values error", err)
	}
}

func TestLogTicks(t *testing.T) {
	var got []string
	for _, tk := range (logTicks{}).Ticks(30, 3000) {
		if !tk.IsMinor() {
			got = append(got, tk.Label)
		}
	}
	if want := []string{"50", "100", "200", "500", "1k", "2k"}; !reflect.DeepEqual(got, want) {
		t.Errorf("labels over 30..3000 = %v, want %v", got, want)
	}
	labels := 0
	for _, tk := range (logTicks{}).Ticks(120, 180) {
		if !tk.IsMinor() {
			labels++
		}
	}
	if labels < 2 {
		t.Errorf("over 120..180 got %d labels, want the linear fallback's (at least 2)", labels)
	}
}

// makespanSample is two passes of a makespan suite; the second lacks a
// row, and one line lacks workers-used.
const makespanSample = `BenchmarkMakespan/task=10ms/workers=16/send=sdk-2     	 1	 1000 ns/op	 0.9 efficiency	 0.83 makespan-s	 16 workers-used
BenchmarkMakespan/task=10ms/workers=16/send=onebatch-2	 1	 1000 ns/op	 0.5 efficiency	 1.5 makespan-s
BenchmarkMakespan/task=1ms/workers=4/send=sdk-2       	 1	 1000 ns/op	 0.7 efficiency	 1.07 makespan-s	 4 workers-used
BenchmarkMakespan/task=10ms/workers=16/send=sdk-2     	 1	 1000 ns/op	 0.8 efficiency	 0.94 makespan-s	 15 workers-used
BenchmarkMakespan/task=10ms/workers=16/send=onebatch-2	 1	 1000 ns/op	 0.7 efficiency	 1.07 makespan-s
`

// TestTable writes the makespan table as scripts/bench.sh does: rows in
// run order, medians, the first metric's range, "-" for a missing metric.
func TestTable(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "makespan.txt")
	if err := os.WriteFile(in, []byte(makespanSample), 0o644); err != nil {
		t.Fatal(err)
	}
	o := options{in: in, out: filepath.Join(dir, "makespan.md"), kind: "table", title: "Makespan",
		metric: "efficiency,makespan-s,workers-used", spec: spec{X: []string{"task", "workers", "send"}}}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	want := `Makespan

| task | workers | send | efficiency (min-max) | makespan-s | workers-used | runs |
| --- | --- | --- | --- | --- | --- | --- |
| 10ms | 16 | sdk | 0.85 (0.8-0.9) | 0.885 | 15.5 | 2 |
| 10ms | 16 | onebatch | 0.6 (0.5-0.7) | 1.29 | - | 2 |
| 1ms | 4 | sdk | 0.7 (0.7-0.7) | 1.07 | 4 | 1 |
`
	if string(got) != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestValidateKinds(t *testing.T) {
	one := 1.0
	x := spec{X: []string{"task"}}
	for _, o := range []options{
		{out: "t.png", kind: "table", metric: "efficiency", spec: x},
		{out: "t.md", kind: "table", metric: "efficiency", spec: spec{X: []string{"task"}, Series: []string{"workers"}}},
		{out: "t.md", kind: "table", metric: "efficiency", spec: x, ref: &one},
		{out: "t.png", kind: "bar", metric: "efficiency,makespan-s", spec: x},
		{out: "t.md", kind: "bar", metric: "efficiency", spec: x},
		{out: "t.md", kind: "summary", metric: "efficiency", spec: x},
		{kind: "summary", metric: "efficiency,makespan-s", spec: x},
		{kind: "summary", metric: "efficiency", spec: x, ratio: &ratio{Key: "impl", Value: "relay"}},
		{out: "t.md", kind: "table", metric: "efficiency", spec: x, ignore: []string{"policy"}},
	} {
		if o.validate() == nil {
			t.Errorf("%+v: want a validation error", o)
		}
	}
	for _, bad := range []string{"x", "NaN", "Inf"} {
		if _, err := parseRef(bad); err == nil {
			t.Errorf("parseRef(%q): want an error", bad)
		}
	}
	if r, err := parseRef("0.75"); err != nil || *r != 0.75 {
		t.Errorf("parseRef(0.75) = %v, %v", r, err)
	}
}

// issue14Sample is the shape of the run in issue 14: BenchmarkQueue of two
// kinds only, and BenchmarkIdle (with the ns/op it then reported, its fixed
// 1ms window) of every kind, in one file. benchstat's geomeans gave fifo
// 1.002m (its idle row alone), lockfree the geomean of all its rows, and
// the change between the two over the idle row only: -0.00%.
const issue14Sample = `pkg: github.com/alpcrun/alpcrun/core/queue
BenchmarkIdle/impl=fifo-2                              200  1002000 ns/op  0.08 cpu%
BenchmarkIdle/impl=lockfree-2                          200  1002000 ns/op  0.16 cpu%
BenchmarkIdle/impl=priority-2                          200  1001000 ns/op  0.10 cpu%
BenchmarkQueue/impl=lockfree/prod=4/cons=1/batch=1-2   100  40 ns/op
BenchmarkQueue/impl=priority/prod=4/cons=1/batch=1-2   100  90 ns/op
BenchmarkQueue/impl=lockfree/prod=4/cons=4/batch=1-2   100  60 ns/op
BenchmarkQueue/impl=priority/prod=4/cons=4/batch=1-2   100  360 ns/op
BenchmarkQueue/impl=lockfree/prod=4/cons=4/batch=1-2   100  80 ns/op
BenchmarkQueue/impl=priority/prod=4/cons=4/batch=1-2   100  380 ns/op
BenchmarkQueue/impl=priority/prod=4/cons=16/batch=1-2  100  500 ns/op
`

func TestSummaryComparesOnlyCommonRows(t *testing.T) {
	for _, c := range []struct {
		name, metric string
		filter       []cond
		want         string
	}{
		// fifo has only the idle row: the idle row is all that every
		// kind has, and every value and change is of that row alone.
		{"every kind", "sec/op", nil,
			"fifo 1.002m | lockfree 1.002m +0.00% | priority 1.001m -0.10%  (the one row every column has; 3 left out)"},
		// The queue rows of the two kinds that ran them: lockfree's
		// medians 40 and 70, priority's 90 and 370, geomeans 52.9 and
		// 182.5 (3.45x); priority's cons=16 row, which lockfree lacks,
		// is out.
		{"queue rows", "sec/op", []cond{{key: ".name", values: []string{"Queue"}}},
			"lockfree 52.92n | priority 182.5n +244.86%  (geomean of the 2 rows every column has; 1 left out)"},
		{"idle cpu", "cpu%", nil,
			"fifo 0.08 | lockfree 0.16 +100.00% | priority 0.1 +25.00%  (the one row every column has)"},
	} {
		got, err := summaryLine([]byte(issue14Sample), "sample", c.metric, []string{"impl"}, nil, c.filter)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func TestSummaryIgnoreAndNoCommonRow(t *testing.T) {
	const e2e = `BenchmarkE2EMatrix/impl=relay/policy=none/workers=4-2          10  1 ns/op  1000 tasks/s
BenchmarkE2EMatrix/impl=priority/policy=priority/workers=4-2   10  1 ns/op  800 tasks/s
BenchmarkE2EMatrix/impl=priority/policy=fairshare/workers=4-2  10  1 ns/op  100 tasks/s
BenchmarkE2EMatrix/impl=relay/policy=none/workers=64-2         10  1 ns/op  2000 tasks/s
`
	got, err := summaryLine([]byte(e2e), "e2e", "tasks/s", []string{"impl"}, []string{"policy"},
		[]cond{{key: "policy", values: []string{"none", "priority"}}})
	if err != nil {
		t.Fatal(err)
	}
	// policy=none and policy=priority of workers=4 are one row; fairshare
	// is filtered out; workers=64 has no priority value.
	if want := "relay 1.000k | priority 800 -20.00%  (the one row every column has; 1 left out)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Without -ignore, relay and priority share no row.
	if got, err := summaryLine([]byte(e2e), "e2e", "tasks/s", []string{"impl"}, nil, nil); err == nil {
		t.Errorf("no common row: got %q, want an error", got)
	}
}
