package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const benchText = `goos: linux
BenchmarkE2E/impl=relay/workers=1/batch=1/payload=64/inflight=1-2   	8000	 40000 ns/op	 20000 p50-ns	 100000 p99-ns	 25000 tasks/s
BenchmarkE2E/impl=relay/workers=1/batch=1/payload=64/inflight=1-2   	8000	 40000 ns/op	 20000 p50-ns	 100000 p99-ns	 25000 tasks/s
BenchmarkE2E/impl=relay/workers=1/batch=1/payload=64/inflight=1-2   	8000	 40000 ns/op	 99999 p50-ns	 100000 p99-ns	 25000 tasks/s
BenchmarkE2E/impl=priority/workers=1/batch=1/payload=64/inflight=1-2	8000	 50000 ns/op	 30000 p50-ns	 300000 p99-ns	 20000 tasks/s
`

func TestRatiosUseMedians(t *testing.T) {
	s, err := ParseBench(strings.NewReader(benchText))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Ratios(s, "priority")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range rs {
		got[r.Unit] = r.Value
	}
	// The relay's p50 outlier (99999) is not the median of three.
	want := map[string]float64{"p50-ns": 1.5, "p99-ns": 3, "tasks/s": 0.8}
	for u, w := range want {
		if got[u] != w {
			t.Errorf("%s ratio = %v, want %v", u, got[u], w)
		}
	}
}

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFloors(t *testing.T) {
	in := write(t, "head.txt", benchText)
	failed, err := runFloors([]string{"-in", in, "-min-tasks", "0.5", "-max-p50", "2", "-max-p99", "2"}, io.Discard)
	if err != nil || !failed {
		t.Errorf("p99 ratio 3x against a 2x ceiling: failed=%v err=%v, want a failure", failed, err)
	}
	failed, err = runFloors([]string{"-in", in, "-min-tasks", "0.5", "-max-p50", "2", "-max-p99", "4"}, io.Discard)
	if err != nil || failed {
		t.Errorf("every ratio within its limit: failed=%v err=%v, want a pass", failed, err)
	}
}

func TestBaseline(t *testing.T) {
	in := write(t, "head.txt", benchText)
	// In the baseline the queue manager had 0.9x the relay's tasks/s; 0.8x
	// is 12.5% worse.
	base := write(t, "base.txt", strings.ReplaceAll(benchText, "20000 tasks/s", "22500 tasks/s"))
	for _, c := range []struct {
		margin string
		fail   bool
	}{{"0.10", true}, {"0.25", false}} {
		failed, err := runBaseline([]string{"-in", in, "-baseline", base, "-margin", c.margin}, io.Discard)
		if err != nil || failed != c.fail {
			t.Errorf("margin %s: failed=%v err=%v, want failed=%v", c.margin, failed, err, c.fail)
		}
	}
}

// csvText is benchstat -format csv output in its shape: a unit per block,
// a row missing from head (relay here), and a geomean.
const csvText = `goos: linux
,base.txt,,head.txt,,,
,sec/op,CI,sec/op,CI,vs base,P
E2E/impl=relay/workers=1-2,4e-05,9%
E2E/impl=priority/workers=1-2,5e-05,7%,6e-05,3%,+20.00%,p=0.000 n=10
E2E/impl=priority/workers=4-2,7e-07,3%,7.7e-07,3%,+10.00%,p=0.000 n=10
geomean,5e-06,,6e-06,,+10.00%,

,base.txt,,head.txt,,,
,tasks/s,CI,tasks/s,CI,vs base,P
E2E/impl=priority/workers=1-2,20000,7%,16000,3%,-20.00%,p=0.200 n=10
`

func TestParseCSV(t *testing.T) {
	cs, err := ParseCSV(strings.NewReader(csvText))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("got %d rows, want 3: %+v", len(cs), cs)
	}
	if c := cs[0]; c.Unit != "sec/op" || c.Base != 5e-05 || c.Head != 6e-05 || c.P != 0 {
		t.Errorf("first row = %+v", c)
	}
	// tasks/s fell from 20000 to 16000: 25% worse, as time per task grew.
	if w := cs[2].Worse(); w < 0.2499 || w > 0.2501 || cs[2].P != 0.2 {
		t.Errorf("tasks/s row: worse=%v p=%v, want 0.25 and 0.2", cs[2].Worse(), cs[2].P)
	}
}

func TestCompare(t *testing.T) {
	in := write(t, "c.csv", csvText)
	for _, c := range []struct {
		units string
		fail  bool
	}{
		{"sec/op", true},   // +20% at p=0.000
		{"tasks/s", false}, // 25% worse but p=0.2: not significant
	} {
		failed, err := runCompare([]string{"-csv", in, "-rows", "impl=priority/", "-units", c.units}, io.Discard)
		if err != nil || failed != c.fail {
			t.Errorf("units %s: failed=%v err=%v, want failed=%v", c.units, failed, err, c.fail)
		}
	}
	if _, err := runCompare([]string{"-csv", in, "-rows", "impl=fifo/"}, io.Discard); err == nil {
		t.Error("no gated row: want an error, not a pass")
	}
}

// makespanText is three rounds of the gate's makespan row and a row of
// another shape, whose efficiency must not count.
const makespanText = `BenchmarkMakespan/task=10ms/workers=16/send=sdk-2   	1	 900000000 ns/op	 0.83 efficiency	 0.90 makespan-s
BenchmarkMakespan/task=10ms/workers=16/send=sdk-2   	1	 900000000 ns/op	 0.60 efficiency	 1.25 makespan-s
BenchmarkMakespan/task=10ms/workers=16/send=sdk-2   	1	 900000000 ns/op	 0.80 efficiency	 0.94 makespan-s
BenchmarkMakespan/task=10ms/workers=16/send=sdkx-2  	1	 900000000 ns/op	 0.10 efficiency	 7.5 makespan-s
BenchmarkMakespan/task=10ms/workers=164/send=sdk-2  	1	 900000000 ns/op	 0.10 efficiency	 7.5 makespan-s
`

func TestMakespan(t *testing.T) {
	in := write(t, "makespan.txt", makespanText)
	for _, c := range []struct {
		args []string
		fail bool
	}{
		{[]string{"-floor", "0.75"}, false}, // median 0.80: one slow round does not fail it
		{[]string{"-floor", "0.85"}, true},
		{[]string{"-floor", "0.85", "-judge=false"}, false},
	} {
		failed, err := runMakespan(append([]string{"-in", in}, c.args...), io.Discard)
		if err != nil || failed != c.fail {
			t.Errorf("%v: failed=%v err=%v, want failed=%v", c.args, failed, err, c.fail)
		}
	}
	if _, err := runMakespan([]string{"-in", in, "-row", "task=1ms/workers=16/send=sdk"}, io.Discard); err == nil {
		t.Error("a row the text lacks: want an error")
	}
}
