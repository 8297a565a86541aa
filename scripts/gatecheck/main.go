// Package main is gatecheck, the judge of make gate (scripts/gate.sh). It
// reads Go benchmark text of BenchmarkE2E and BenchmarkMakespan and
// benchstat's CSV and exits 1 when a check fails:
//
//	gatecheck floors   -in head.txt            queue manager vs relay, same run
//	gatecheck compare  -csv base-vs-head.csv   base vs head, per gated row
//	gatecheck baseline -in head.txt -baseline results/baseline/gate.txt
//	gatecheck makespan -in makespan.txt -row task=10ms/workers=16/send=sdk -floor 0.75
//
// floors and baseline judge ratios to the relay measured in the same run,
// so that a slower or busier machine moves both sides alike; compare
// judges absolute medians, since base and head ran interleaved on one
// machine. makespan judges an absolute efficiency (ideal over measured
// makespan of sleeping tasks): a ratio to the machine's own best already.
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/alpcrun/alpcrun/internal/cli"
)

const usage = "usage: gatecheck floors|compare|baseline|makespan [flags]   (gatecheck CMD -h: flags of CMD)"

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
	case "compare":
		failed, err = runCompare(args, os.Stdout)
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

// Change is one row of benchstat's CSV for one unit.
type Change struct {
	Name, Unit string
	Base, Head float64
	P          float64
}

// Worse is the relative loss from base to head: positive when the median
// moved the wrong way for the unit.
func (c Change) Worse() float64 {
	if higherIsBetter(c.Unit) {
		return c.Base/c.Head - 1
	}
	return c.Head/c.Base - 1
}

// ParseCSV reads benchstat -format csv output of two files: per unit a
// header (",base,,head,,,"), a unit line (",unit,CI,unit,CI,vs base,P") and
// rows "name,median,CI,median,CI,change,p=… n=…". Rows missing from either
// side have fewer columns and are left out, as is the geomean.
func ParseCSV(r io.Reader) ([]Change, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	var (
		out  []Change
		unit string
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("gatecheck: csv: %v", err)
		}
		if len(rec) >= 3 && rec[0] == "" && rec[2] == "CI" {
			unit = rec[1]
			continue
		}
		if len(rec) < 7 || rec[0] == "" || rec[0] == "geomean" || unit == "" {
			continue
		}
		base, err1 := strconv.ParseFloat(rec[1], 64)
		head, err2 := strconv.ParseFloat(rec[3], 64)
		p, err3 := parseP(rec[6])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("gatecheck: csv row %s: %v", rec[0], err)
		}
		out = append(out, Change{Name: rec[0], Unit: unit, Base: base, Head: head, P: p})
	}
}

// parseP reads "p=0.012 n=10".
func parseP(s string) (float64, error) {
	for _, f := range strings.Fields(s) {
		if v, ok := strings.CutPrefix(f, "p="); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no p= in %q", s)
}

// runCompare fails a gated row when its change is significant (p < alpha)
// and worse than maxWorse.
func runCompare(args []string, w io.Writer) (bool, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	in := fs.String("csv", "", "benchstat -format csv output, base then head")
	rows := fs.String("rows", "impl=priority", "comma-separated substrings; a row is gated when its name holds one")
	units := fs.String("units", "sec/op,p50-sec", "comma-separated gated units, as benchstat names them")
	alpha := fs.Float64("alpha", 0.05, "significance level")
	maxWorse := fs.Float64("max-worse", 0.15, "allowed loss of a median")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	f, err := os.Open(*in)
	if err != nil {
		return false, fmt.Errorf("gatecheck: %v", err)
	}
	defer f.Close()
	cs, err := ParseCSV(f)
	if err != nil {
		return false, err
	}
	gatedUnits := strings.Split(*units, ",")
	gatedRows := strings.Split(*rows, ",")
	failed, judged := false, 0
	for _, c := range cs {
		if !slices.Contains(gatedUnits, c.Unit) || !slices.ContainsFunc(gatedRows, func(r string) bool { return strings.Contains(c.Name, r) }) {
			continue
		}
		judged++
		ok := c.P >= *alpha || c.Worse() <= *maxWorse
		failed = failed || !ok
		fmt.Fprintf(w, "%s compare  %-8s %.4g -> %.4g (%+.1f%% worse, p=%.3f; fails at > %.0f%% and p < %.2f)  %s\n",
			verdict(ok), c.Unit, c.Base, c.Head, 100*c.Worse(), c.P, 100**maxWorse, *alpha, c.Name)
	}
	if judged == 0 {
		return false, fmt.Errorf("gatecheck: no gated row in %s (rows %s, units %s)", *in, *rows, *units)
	}
	return failed, nil
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
