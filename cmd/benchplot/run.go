package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// options are the parsed flags.
type options struct {
	in, out, metric, kind, title string
	spec                         spec
	filter                       []cond
	ratio                        *ratio // nil: plot the metric itself
	logY                         bool
}

func (o options) validate() error {
	var errs []error
	if o.out == "" {
		errs = append(errs, errors.New("benchplot: -out is required"))
	} else if ext := strings.ToLower(filepath.Ext(o.out)); ext != ".png" && ext != ".svg" {
		errs = append(errs, fmt.Errorf("benchplot: -out %q: want a .png or .svg file", o.out))
	}
	if len(o.spec.X) == 0 {
		errs = append(errs, errors.New("benchplot: -x is required"))
	}
	if o.kind != "line" && o.kind != "point" && o.kind != "bar" {
		errs = append(errs, fmt.Errorf("benchplot: -kind %q: want line, point or bar", o.kind))
	}
	if o.logY && o.kind == "bar" {
		errs = append(errs, errors.New("benchplot: -logy does not suit bars, which start at 0"))
	}
	if o.metric == "" {
		errs = append(errs, errors.New("benchplot: -metric is empty"))
	}
	return errors.Join(errs...)
}

func run(o options) error {
	in, name := os.Stdin, "stdin"
	if o.in != "" {
		f, err := os.Open(o.in)
		if err != nil {
			return fmt.Errorf("benchplot: %w", err)
		}
		defer f.Close()
		in, name = f, o.in
	}
	pts, bad, err := readPoints(in, name, o.metric, o.filter)
	if err != nil {
		return err
	}
	for _, e := range bad {
		fmt.Fprintf(os.Stderr, "benchplot: skipped %v\n", e)
	}
	metric := o.metric
	if o.ratio != nil {
		var missing int
		pts, missing = o.ratio.apply(pts)
		if missing > 0 {
			fmt.Fprintf(os.Stderr, "benchplot: %s: skipped %d results without a %s=%s reference sharing %v\n",
				name, missing, o.ratio.Key, o.ratio.Value, o.ratio.By)
		}
		metric += " ÷ " + o.ratio.Key + "=" + o.ratio.Value
	}
	g, skipped := group(pts, o.spec)
	if skipped > 0 {
		fmt.Fprintf(os.Stderr, "benchplot: %s: skipped %d results lacking a key of -x/-series/-panel\n", name, skipped)
	}
	if len(g.Cells) == 0 {
		return fmt.Errorf("benchplot: %s: no results with metric %q and keys %v", name, o.metric, o.spec.keys())
	}
	title := o.title
	if title == "" {
		title = metric
	}
	return render(g, chart{
		kind: o.kind, title: title, metric: metric, ratio: o.ratio != nil,
		xLabel:    strings.Join(o.spec.X, " x "),
		seriesKey: strings.Join(o.spec.Series, "/"), logY: o.logY,
	}, o.out)
}
