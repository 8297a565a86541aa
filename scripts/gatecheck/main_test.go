package main

import (
	"io"
	"math"
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

// pairedBase and pairedHead are four rounds of two rows. The loaded row's
// cpu-ns/op is 10% worse in head in every round, though the machine slowed
// in round 3 (both sides); its tasks/s is 10% better. The idle row's
// allocs/op is the same but for one round.
const pairedBase = `BenchmarkE2E/impl=priority/workers=4/batch=100/payload=64/inflight=64-2  1000  1000 ns/op  2000 cpu-ns/op  500000 tasks/s  0 allocs/op
BenchmarkE2E/impl=priority/workers=1/batch=1/payload=64/inflight=1-2  1000  50000 ns/op  20000 p50-ns  67 allocs/op
BenchmarkE2E/impl=priority/workers=4/batch=100/payload=64/inflight=64-2  1000  1000 ns/op  2100 cpu-ns/op  500000 tasks/s  0 allocs/op
BenchmarkE2E/impl=priority/workers=1/batch=1/payload=64/inflight=1-2  1000  50000 ns/op  20000 p50-ns  67 allocs/op
BenchmarkE2E/impl=priority/workers=4/batch=100/payload=64/inflight=64-2  1000  1000 ns/op  3000 cpu-ns/op  250000 tasks/s  0 allocs/op
BenchmarkE2E/impl=priority/workers=1/batch=1/payload=64/inflight=1-2  1000  50000 ns/op  20000 p50-ns  67 allocs/op
BenchmarkE2E/impl=priority/workers=4/batch=100/payload=64/inflight=64-2  1000  1000 ns/op  1900 cpu-ns/op  500000 tasks/s  0 allocs/op
BenchmarkE2E/impl=priority/workers=1/batch=1/payload=64/inflight=1-2  1000  50000 ns/op  20000 p50-ns  67 allocs/op
`

const pairedHead = `BenchmarkE2E/impl=priority/workers=4/batch=100/payload=64/inflight=64-2  1000  1000 ns/op  2200 cpu-ns/op  550000 tasks/s  0 allocs/op
BenchmarkE2E/impl=priority/workers=1/batch=1/payload=64/inflight=1-2  1000  50000 ns/op  20000 p50-ns  67 allocs/op
BenchmarkE2E/impl=priority/workers=4/batch=100/payload=64/inflight=64-2  1000  1000 ns/op  2310 cpu-ns/op  550000 tasks/s  0 allocs/op
BenchmarkE2E/impl=priority/workers=1/batch=1/payload=64/inflight=1-2  1000  50000 ns/op  20000 p50-ns  67 allocs/op
BenchmarkE2E/impl=priority/workers=4/batch=100/payload=64/inflight=64-2  1000  1000 ns/op  3300 cpu-ns/op  275000 tasks/s  0 allocs/op
BenchmarkE2E/impl=priority/workers=1/batch=1/payload=64/inflight=1-2  1000  50000 ns/op  20000 p50-ns  68 allocs/op
BenchmarkE2E/impl=priority/workers=4/batch=100/payload=64/inflight=64-2  1000  1000 ns/op  2090 cpu-ns/op  550000 tasks/s  0 allocs/op
BenchmarkE2E/impl=priority/workers=1/batch=1/payload=64/inflight=1-2  1000  50000 ns/op  20000 p50-ns  67 allocs/op
`

func TestPaired(t *testing.T) {
	b, err := ParseBench(strings.NewReader(pairedBase))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseBench(strings.NewReader(pairedHead))
	if err != nil {
		t.Fatal(err)
	}
	const loaded = "E2E/impl=priority/workers=4/batch=100/payload=64/inflight=64-2"
	p, err := Pairs(b, h, loaded, "cpu-ns/op")
	if err != nil {
		t.Fatal(err)
	}
	// Every round 10% worse: the estimate is 10% though round 3's values
	// are half again as large, and all 4 rounds worse is p = 1/16.
	if w := p.Worse(); math.Abs(w-0.1) > 0.001 {
		t.Errorf("cpu-ns/op worse = %v, want 0.10", w)
	}
	if pv := p.P(); pv != 1.0/16 {
		t.Errorf("cpu-ns/op p = %v, want 1/16", pv)
	}
	// tasks/s is higher-is-better: 10% more is 9.1% better, p = 1.
	p, err = Pairs(b, h, loaded, "tasks/s")
	if err != nil {
		t.Fatal(err)
	}
	if w, pv := p.Worse(), p.P(); math.Abs(w+1/11.0) > 0.001 || pv != 1 {
		t.Errorf("tasks/s: worse=%v p=%v, want -0.091 and 1", w, pv)
	}
}

func TestSignedRankP(t *testing.T) {
	for _, c := range []struct {
		d    []float64
		want float64
	}{
		{[]float64{1, 2, 3}, 1.0 / 8},         // all worse: 1 of 8 sign patterns
		{[]float64{-1, 2, 3}, 2.0 / 8},        // rank sum 5: {2,3} and {1,2,3}
		{[]float64{-1, -2, -3}, 1},            // all better
		{[]float64{0, 0, 5}, 1.0 / 2},         // zeros dropped: one round left
		{[]float64{-1, 1, 2}, 3.0 / 8},        // tie: ranks 1.5, 1.5, 3; sum >= 4.5 in 3 of 8
		{[]float64{0, 0}, 1},                  // no change at all
		{[]float64{-3, 1, 2, 4, 5}, 5.0 / 32}, // rank sum 12 of 15
	} {
		if got := (Paired{D: c.d}).P(); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("P(%v) = %v, want %v", c.d, got, c.want)
		}
	}
}

func TestRunPaired(t *testing.T) {
	base, head := write(t, "base.txt", pairedBase), write(t, "head.txt", pairedHead)
	for _, c := range []struct {
		checks string
		alpha  string
		fail   bool
	}{
		{"batch=100/:cpu-ns/op:0.05", "0.1", true},   // +10% in 4 of 4 rounds, p = 0.0625
		{"batch=100/:cpu-ns/op:0.05", "0.05", false}, // 4 rounds cannot reach p < 0.05
		{"batch=100/:cpu-ns/op:0.15", "0.1", false},  // smaller than allowed
		{"batch=100/:tasks/s:0", "0.1", false},       // better
		{"batch=1/:allocs/op:0", "0.6", false},       // +1 alloc in 1 round of 4: the estimate is no change
	} {
		failed, err := runPaired([]string{"-base", base, "-head", head, "-checks", c.checks, "-alpha", c.alpha}, io.Discard)
		if err != nil || failed != c.fail {
			t.Errorf("%s alpha %s: failed=%v err=%v, want failed=%v", c.checks, c.alpha, failed, err, c.fail)
		}
	}
	for _, checks := range []string{"batch=100/:p50-ns:0.1", "batch=7/:cpu-ns/op:0.1", "cpu-ns/op:0.1"} {
		if _, err := runPaired([]string{"-base", base, "-head", head, "-checks", checks}, io.Discard); err == nil {
			t.Errorf("checks %s: want an error, not a pass", checks)
		}
	}
	short := write(t, "short.txt", pairedHead[:strings.LastIndex(pairedHead[:len(pairedHead)-1], "\n")+1])
	if _, err := runPaired([]string{"-base", base, "-head", short, "-checks", "batch=1/:p50-ns:0.1"}, io.Discard); err == nil {
		t.Error("head with a round fewer than base: want an error")
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
