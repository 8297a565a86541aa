// Command benchplot draws Go benchmark results as a PNG or SVG chart, or
// writes their medians as a markdown table.
//
// It reads the Go benchmark format (as written by go test -bench), takes the
// key=value segments of each benchmark name as dimensions, and plots the
// median of one metric over the -count runs, with min/max whiskers:
//
//	benchplot -in queue.txt -out queue.png -metric ns/op \
//	    -x prod,cons -series impl -panel batch -logy
//	benchplot -in idle.txt -out idle.png -kind bar -metric cpu% -x impl
//	benchplot -in e2e.txt -out ratio.png -kind point -metric tasks/s \
//	    -ratio impl=relay -ratio-by workers,batch,payload -x workers,batch -series impl
//	benchplot -in makespan.txt -out makespan.md -kind table \
//	    -metric efficiency,makespan-s -x task,workers,send
//
// -kind table writes a markdown table instead of a chart: a row per
// distinct tuple of the -x keys, in the order the benchmark ran them, and
// per metric of the comma-separated -metric the median of the row's runs
// (the first metric with its min and max).
//
// -kind summary prints one line to stdout that compares columns, the
// values of the -x keys, on one -metric: per column the geomean of its
// rows' medians and its change against the first column, over only the
// rows that every column has (a row: the name without the -x and -ignore
// keys). make bench ends with one per suite:
//
//	benchplot -in queue.txt -kind summary -metric sec/op -x impl
//	benchplot -in e2e.txt -kind summary -metric tasks/s -x impl -ignore policy \
//	    -filter 'impl=relay|priority,policy=none|priority'
//
// -ref draws a dashed horizontal line, such as the 1 of a perfect
// efficiency. -ratio plots each result over its reference, the median of
// the results with the -ratio key=value that share the -ratio-by keys'
// values; the reference results themselves are not drawn. -filter applies
// first, so it must keep the references.
//
// Besides the name's keys, ".name" is the base name without "Benchmark",
// "gomaxprocs" is the -N suffix, and the file's configuration lines (goos,
// pkg, cpu, ...) are keys too.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/alpcrun/alpcrun/internal/version"
)

func main() {
	version.Handle("benchplot", os.Args[1:])
	var o options
	flag.StringVar(&o.in, "in", "", "benchmark text `file` (default stdin)")
	flag.StringVar(&o.out, "out", "", "output `file`: .png or .svg (required)")
	flag.StringVar(&o.metric, "metric", "ns/op", "`unit` to plot, as printed by go test (ns/op, items/s, cpu%, ...)")
	flag.StringVar(&o.kind, "kind", "line", "`kind`: line, point (markers only) or bar chart, table (markdown) or summary (one line)")
	x := flag.String("x", "", "name `keys` for the x axis, comma-separated; values are joined with \"x\" (required)")
	series := flag.String("series", "", "name `keys` whose values get one line or bar color each")
	panel := flag.String("panel", "", "name `keys` whose values get one subplot each")
	ignore := flag.String("ignore", "", "-kind summary: name `keys` that do not tell rows apart, comma-separated")
	filter := flag.String("filter", "", "keep only results matching `key=value,key!=value,...`; a value may be a|b")
	ratioKV := flag.String("ratio", "", "plot each result over its reference, the results with `key=value`")
	ratioBy := flag.String("ratio-by", "", "name `keys` a result shares with its -ratio reference, comma-separated")
	flag.StringVar(&o.title, "title", "", "figure title (default: the metric)")
	flag.BoolVar(&o.logY, "logy", false, "logarithmic y axis")
	ref := flag.String("ref", "", "draw a dashed line at `y`, e.g. 1 where an efficiency is perfect (-ratio draws one at 1)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("benchplot: unexpected arguments %q", flag.Args()))
	}
	o.spec = spec{X: splitList(*x), Series: splitList(*series), Panel: splitList(*panel)}
	o.ignore = splitList(*ignore)
	var err error
	if o.ref, err = parseRef(*ref); err != nil {
		fail(err)
	}
	if o.filter, err = parseFilter(*filter); err != nil {
		fail(err)
	}
	if o.ratio, err = parseRatio(*ratioKV, *ratioBy); err != nil {
		fail(err)
	}
	if err := o.validate(); err != nil {
		fail(err)
	}
	if err := run(o); err != nil {
		fail(err)
	}
}

// parseRef parses -ref: a finite number, or nil (no line) when empty.
func parseRef(s string) (*float64, error) {
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("benchplot: -ref %q: want a finite number", s)
	}
	return &v, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
