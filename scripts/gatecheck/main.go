// Package main is gatecheck, the judge of make gate (scripts/gate.sh). It
// reads Go benchmark text of BenchmarkE2E and BenchmarkMakespan and exits 1
// when a check fails:
//
//	gatecheck floors   -in head.txt                   queue manager vs relay, same run
//	gatecheck paired   -base base.txt -head head.txt  base vs head, round by round
//	gatecheck baseline -in head.txt -baseline results/baseline/gate.txt
//	gatecheck makespan -in makespan.txt -row task=10ms/workers=16/send=sdk -floor 0.75
//
// floors and baseline judge ratios to the relay measured in the same run,
// so that a slower or busier machine moves both sides alike; paired judges
// head over base round by round, since the two ran side by side in each
// round. makespan judges an absolute efficiency (ideal over measured
// makespan of sleeping tasks): a ratio to the machine's own best already.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/alpcrun/alpcrun/internal/cli"
)

const usage = "usage: gatecheck floors|paired|baseline|makespan [flags]   (gatecheck CMD -h: flags of CMD)"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if cli.IsHelp(os.Args[1]) {
		fmt.Println(usage)
		return
	}
	var (
		failed bool
		err    error
	)
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "floors":
		failed, err = runFloors(args, os.Stdout)
	case "paired":
		failed, err = runPaired(args, os.Stdout)
	case "baseline":
		failed, err = runBaseline(args, os.Stdout)
	case "makespan":
		failed, err = runMakespan(args, os.Stdout)
	default:
		err = fmt.Errorf("gatecheck: unknown command %q\n%s", cmd, usage)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// Samples holds every value of a benchmark text: name → unit → values.
type Samples map[string]map[string][]float64

// ParseBench reads Go benchmark lines ("BenchmarkX-2  N  v unit  v unit").
func ParseBench(r io.Reader) (Samples, error) {
	s := Samples{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if s[name] == nil {
			s[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("gatecheck: %s: value %q: %v", name, f[i], err)
			}
			s[name][f[i+1]] = append(s[name][f[i+1]], v)
		}
	}
	return s, sc.Err()
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Ratio is one metric of the queue manager over the relay's, per shape.
type Ratio struct {
	Shape, Unit string
	Value       float64
}

// ratioUnits are the metrics judged as ratios to the relay.
var ratioUnits = []string{"tasks/s", "p50-ns", "p99-ns"}

// Ratios pairs every impl=qm benchmark with its impl=relay twin and returns
// the ratios of their medians, sorted by shape and unit.
func Ratios(s Samples, qm string) ([]Ratio, error) {
	var out []Ratio
	for name, units := range s {
		if !strings.Contains(name, "/impl="+qm+"/") {
			continue
		}
		relay := s[strings.Replace(name, "/impl="+qm+"/", "/impl=relay/", 1)]
		if relay == nil {
			return nil, fmt.Errorf("gatecheck: %s has no impl=relay twin", name)
		}
		shape := name[strings.Index(name, "/impl="+qm+"/")+len("/impl="+qm+"/"):]
		for _, u := range ratioUnits {
			if len(units[u]) == 0 || len(relay[u]) == 0 {
				continue
			}
			out = append(out, Ratio{Shape: shape, Unit: u, Value: median(units[u]) / median(relay[u])})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("gatecheck: no impl=%s benchmark with an impl=relay twin", qm)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Shape != out[j].Shape {
			return out[i].Shape < out[j].Shape
		}
		return out[i].Unit < out[j].Unit
	})
	return out, nil
}

// higherIsBetter tells the direction of a unit: rates are better high,
// times and latencies low.
func higherIsBetter(unit string) bool { return strings.HasSuffix(unit, "/s") }

func readSamples(path string) (Samples, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gatecheck: %v", err)
	}
	defer f.Close()
	return ParseBench(f)
}

func verdict(ok bool) string {
	if ok {
		return "ok  "
	}
	return "FAIL"
}

// runFloors checks each ratio against a fixed floor (tasks/s) or ceiling
// (latencies).
func runFloors(args []string, w io.Writer) (bool, error) {
	fs := flag.NewFlagSet("floors", flag.ContinueOnError)
	in := fs.String("in", "", "benchmark text of one run")
	qm := fs.String("qm", "priority", "impl judged against impl=relay")
	minTasks := fs.Float64("min-tasks", 0.5, "lowest tasks/s ratio")
	maxP50 := fs.Float64("max-p50", 2.0, "highest p50 latency ratio")
	maxP99 := fs.Float64("max-p99", 2.0, "highest p99 latency ratio")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	s, err := readSamples(*in)
	if err != nil {
		return false, err
	}
	rs, err := Ratios(s, *qm)
	if err != nil {
		return false, err
	}
	limits := map[string]float64{"tasks/s": *minTasks, "p50-ns": *maxP50, "p99-ns": *maxP99}
	failed := false
	for _, r := range rs {
		lim := limits[r.Unit]
		ok, op := r.Value <= lim, "<="
		if higherIsBetter(r.Unit) {
			ok, op = r.Value >= lim, ">="
		}
		failed = failed || !ok
		fmt.Fprintf(w, "%s floors   %s/relay %-8s %5.2fx (want %s %.2fx)  %s\n", verdict(ok), *qm, r.Unit, r.Value, op, lim, r.Shape)
	}
	return failed, nil
}

// runBaseline checks each ratio against the same ratio in the committed
// baseline: it fails when the queue manager lost more than margin of its
// standing relative to the relay.
func runBaseline(args []string, w io.Writer) (bool, error) {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	in := fs.String("in", "", "benchmark text of this run")
	base := fs.String("baseline", "results/baseline/gate.txt", "benchmark text of the baseline")
	qm := fs.String("qm", "priority", "impl judged against impl=relay")
	margin := fs.Float64("margin", 0.25, "allowed loss against the baseline's ratio")
	units := fs.String("units", "tasks/s,p50-ns", "comma-separated units judged")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	s, err := readSamples(*in)
	if err != nil {
		return false, err
	}
	b, err := readSamples(*base)
	if err != nil {
		return false, err
	}
	rs, err := Ratios(s, *qm)
	if err != nil {
		return false, err
	}
	brs, err := Ratios(b, *qm)
	if err != nil {
		return false, err
	}
	want := map[[2]string]float64{}
	for _, r := range brs {
		want[[2]string{r.Shape, r.Unit}] = r.Value
	}
	failed := false
	for _, r := range rs {
		if !slices.Contains(strings.Split(*units, ","), r.Unit) {
			continue
		}
		bv, found := want[[2]string{r.Shape, r.Unit}]
		if !found {
			fmt.Fprintf(w, "skip baseline %s/relay %-8s not in the baseline  %s\n", *qm, r.Unit, r.Shape)
			continue
		}
		// worse is the relative loss: positive when the ratio moved the
		// wrong way.
		worse := r.Value/bv - 1
		if higherIsBetter(r.Unit) {
			worse = bv/r.Value - 1
		}
		ok := worse <= *margin
		failed = failed || !ok
		fmt.Fprintf(w, "%s baseline %s/relay %-8s %5.2fx vs %5.2fx (%+.0f%% worse, allowed %.0f%%)  %s\n",
			verdict(ok), *qm, r.Unit, r.Value, bv, 100*worse, 100**margin, r.Shape)
	}
	return failed, nil
}

// Check is one judged signal of the paired comparison: a unit of the rows
// whose names hold Row, failing when it got worse by more than MaxWorse.
type Check struct {
	Row, Unit string
	MaxWorse  float64
}

// parseChecks reads "row:unit:maxworse,…", e.g. "batch=100/:cpu-ns/op:0.05".
func parseChecks(s string) ([]Check, error) {
	var out []Check
	for _, f := range strings.Split(s, ",") {
		row, rest, ok1 := strings.Cut(f, ":")
		unit, mw, ok2 := strings.Cut(rest, ":")
		w, err := strconv.ParseFloat(mw, 64)
		if !ok1 || !ok2 || unit == "" || err != nil || w < 0 {
			return nil, fmt.Errorf("gatecheck: check %q: want row:unit:maxworse", f)
		}
		out = append(out, Check{Row: row, Unit: unit, MaxWorse: w})
	}
	return out, nil
}

// Paired is one row's unit judged over rounds: D holds, per round, the log
// of head over base signed so that positive is worse.
type Paired struct {
	Name, Unit string
	D          []float64
}

// Pairs pairs the k-th value of a row in base with its k-th value in head:
// the gate runs both binaries once per round, so the k-th values ran
// side by side on the same machine and a slow spell hits both.
func Pairs(base, head Samples, name, unit string) (Paired, error) {
	b, h := base[name][unit], head[name][unit]
	if len(b) != len(h) {
		return Paired{}, fmt.Errorf("gatecheck: %s %s: %d base rounds, %d head rounds", name, unit, len(b), len(h))
	}
	p := Paired{Name: name, Unit: unit}
	for i := range b {
		if b[i] < 0 || h[i] < 0 {
			return Paired{}, fmt.Errorf("gatecheck: %s %s: negative value", name, unit)
		}
		// +1 keeps a unit that is zero on both sides (allocs/op) at no
		// change; on values in the hundreds or more it moves nothing.
		d := math.Log((h[i] + 1) / (b[i] + 1))
		if higherIsBetter(unit) {
			d = -d
		}
		p.D = append(p.D, d)
	}
	return p, nil
}

// Worse is the Hodges-Lehmann estimate of the change, as a relative loss:
// the median of the Walsh averages (d_i+d_j)/2, i <= j, of the per-round
// log ratios. It is the estimate that goes with the signed-rank test,
// steadier than the median of the ratios and not swayed by one round that
// the machine spoiled.
func (p Paired) Worse() float64 {
	var w []float64
	for i := range p.D {
		for j := i; j < len(p.D); j++ {
			w = append(w, (p.D[i]+p.D[j])/2)
		}
	}
	if len(w) == 0 {
		return 0
	}
	return math.Exp(median(w)) - 1
}

// P is the one-sided p-value of the Wilcoxon signed-rank test that head is
// worse than base: exact, from the distribution of the rank sum of the
// rounds where head was worse, with zero differences dropped and tied
// magnitudes given their average rank.
func (p Paired) P() float64 {
	var d []float64
	for _, x := range p.D {
		if x != 0 {
			d = append(d, x)
		}
	}
	n := len(d)
	if n == 0 {
		return 1
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return math.Abs(d[idx[a]]) < math.Abs(d[idx[b]]) })
	// Ranks doubled, so that average ranks of ties stay integers.
	rank2 := make([]int, n)
	for i := 0; i < n; {
		j := i
		for j < n && math.Abs(d[idx[j]]) == math.Abs(d[idx[i]]) {
			j++
		}
		for k := i; k < j; k++ {
			rank2[idx[k]] = i + j + 1 // 2 × the average of ranks i+1..j
		}
		i = j
	}
	obs, total := 0, 0
	for i, x := range d {
		total += rank2[i]
		if x > 0 {
			obs += rank2[i]
		}
	}
	// ways[s]: the subsets of ranks summing to s, each round's sign
	// equally likely under no change.
	ways := make([]float64, total+1)
	ways[0] = 1
	for _, r := range rank2 {
		for s := total; s >= r; s-- {
			ways[s] += ways[s-r]
		}
	}
	var tail float64
	for s := obs; s <= total; s++ {
		tail += ways[s]
	}
	return tail / math.Pow(2, float64(n))
}

// runPaired fails a check when head is worse than base at p < alpha and by
// more than the check's MaxWorse.
func runPaired(args []string, w io.Writer) (bool, error) {
	fs := flag.NewFlagSet("paired", flag.ContinueOnError)
	baseIn := fs.String("base", "", "benchmark text of base, one value per row and round")
	headIn := fs.String("head", "", "benchmark text of head, rounds in the same order")
	rows := fs.String("rows", "impl=priority/", "substring of the judged rows' names")
	checks := fs.String("checks", "batch=100/:cpu-ns/op:0.05", "comma-separated row:unit:maxworse; row is a substring of the name")
	alpha := fs.Float64("alpha", 0.05, "significance level")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	cs, err := parseChecks(*checks)
	if err != nil {
		return false, err
	}
	base, err := readSamples(*baseIn)
	if err != nil {
		return false, err
	}
	head, err := readSamples(*headIn)
	if err != nil {
		return false, err
	}
	names := slices.Sorted(maps.Keys(head))
	failed := false
	for _, c := range cs {
		judged := 0
		for _, name := range names {
			if !strings.Contains(name, *rows) || !strings.Contains(name, c.Row) || len(head[name][c.Unit]) == 0 {
				continue
			}
			p, err := Pairs(base, head, name, c.Unit)
			if err != nil {
				return false, err
			}
			judged++
			worse, pv := p.Worse(), p.P()
			ok := pv >= *alpha || worse <= c.MaxWorse
			failed = failed || !ok
			fmt.Fprintf(w, "%s paired   %-9s %+6.1f%% (head worse in %d of %d rounds, p=%.3f; fails at > %.0f%% and p < %.2f)  %s\n",
				verdict(ok), c.Unit, 100*worse, countPositive(p.D), len(p.D), pv, 100*c.MaxWorse, *alpha, name)
		}
		if judged == 0 {
			return false, fmt.Errorf("gatecheck: no row of %s holds %s and %s with unit %s", *headIn, *rows, c.Row, c.Unit)
		}
	}
	return failed, nil
}

func countPositive(v []float64) int {
	n := 0
	for _, x := range v {
		if x > 0 {
			n++
		}
	}
	return n
}

// runMakespan checks the median efficiency of one BenchmarkMakespan row
// against a floor; without -judge it prints the verdict and never fails.
func runMakespan(args []string, w io.Writer) (bool, error) {
	fs := flag.NewFlagSet("makespan", flag.ContinueOnError)
	in := fs.String("in", "", "benchmark text of BenchmarkMakespan")
	row := fs.String("row", "task=10ms/workers=16/send=sdk", "the judged row, its path under BenchmarkMakespan")
	floor := fs.Float64("floor", 0.75, "lowest median efficiency")
	judge := fs.Bool("judge", true, "fail below the floor; false only reports")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	s, err := readSamples(*in)
	if err != nil {
		return false, err
	}
	var eff []float64
	for name, units := range s {
		if rest, ok := strings.CutPrefix(name, "Makespan/"+*row); ok && isProcsSuffix(rest) {
			eff = append(eff, units["efficiency"]...)
		}
	}
	if len(eff) == 0 {
		return false, fmt.Errorf("gatecheck: no efficiency of BenchmarkMakespan/%s in %s", *row, *in)
	}
	med := median(eff)
	ok := med >= *floor
	v, note := verdict(ok), ""
	if !*judge {
		v, note = "info", ", not judged"
	}
	fmt.Fprintf(w, "%s makespan efficiency %.2f (median of %d, %.2f-%.2f; floor %.2f%s)  %s\n",
		v, med, len(eff), slices.Min(eff), slices.Max(eff), *floor, note, *row)
	return *judge && !ok, nil
}

// isProcsSuffix reports whether s is what follows a benchmark's name:
// nothing, or go test's -GOMAXPROCS suffix.
func isProcsSuffix(s string) bool {
	if s == "" {
		return true
	}
	_, err := strconv.Atoi(strings.TrimPrefix(s, "-"))
	return s[0] == '-' && err == nil
}
