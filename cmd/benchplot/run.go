package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// options are the parsed flags.
type options struct {
	in, out, metric, kind, title string
	spec                         spec
	ignore                       []string // -kind summary: keys that do not tell rows apart
	filter                       []cond
	ratio                        *ratio // nil: plot the metric itself
	logY                         bool
	ref                          *float64 // a dashed line at this y; nil: none
}

func (o options) validate() error {
	var errs []error
	ext := strings.ToLower(filepath.Ext(o.out))
	switch {
	case o.kind == "summary":
		if o.out != "" {
			errs = append(errs, errors.New("benchplot: -kind summary writes to stdout; no -out"))
		}
	case o.out == "":
		errs = append(errs, errors.New("benchplot: -out is required"))
	case o.kind == "table" && ext != ".md":
		errs = append(errs, fmt.Errorf("benchplot: -out %q: want a .md file for -kind table", o.out))
	case o.kind != "table" && ext != ".png" && ext != ".svg":
		errs = append(errs, fmt.Errorf("benchplot: -out %q: want a .png or .svg file", o.out))
	}
	if len(o.spec.X) == 0 {
		errs = append(errs, errors.New("benchplot: -x is required"))
	}
	switch o.kind {
	case "line", "point", "bar":
		if strings.Contains(o.metric, ",") {
			errs = append(errs, fmt.Errorf("benchplot: -metric %q: a chart plots one metric; a table takes several", o.metric))
		}
	case "table", "summary":
		if len(o.spec.Series)+len(o.spec.Panel) > 0 || o.ratio != nil || o.logY || o.ref != nil {
			errs = append(errs, fmt.Errorf("benchplot: -kind %s takes -x, -metric and -filter only (and summary -ignore)", o.kind))
		}
		if o.kind == "summary" && strings.Contains(o.metric, ",") {
			errs = append(errs, fmt.Errorf("benchplot: -metric %q: a summary compares one metric", o.metric))
		}
	default:
		errs = append(errs, fmt.Errorf("benchplot: -kind %q: want line, point, bar, table or summary", o.kind))
	}
	if len(o.ignore) > 0 && o.kind != "summary" {
		errs = append(errs, errors.New("benchplot: -ignore is for -kind summary"))
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
	var (
		data []byte
		err  error
	)
	name := "stdin"
	if o.in != "" {
		data, err = os.ReadFile(o.in)
		name = o.in
	} else {
		data, err = io.ReadAll(os.Stdin)
	}
	if err != nil {
		return fmt.Errorf("benchplot: %w", err)
	}
	switch o.kind {
	case "table":
		return writeTable(o, data, name)
	case "summary":
		line, err := summaryLine(data, name, o.metric, o.spec.X, o.ignore, o.filter)
		if err != nil {
			return err
		}
		fmt.Println(line)
		return nil
	}
	pts, bad, err := readPoints(bytes.NewReader(data), name, o.metric, o.filter)
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
		if o.ref == nil {
			one := 1.0
			o.ref = &one
		}
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
		kind: o.kind, title: title, metric: metric,
		xLabel:    strings.Join(o.spec.X, " x "),
		seriesKey: strings.Join(o.spec.Series, "/"), logY: o.logY, ref: o.ref,
	}, o.out)
}

// writeTable writes the -kind table of data to o.out, under -title.
func writeTable(o options, data []byte, name string) error {
	t, skipped, err := table(data, name, splitList(o.metric), o.spec.X, o.filter)
	if err != nil {
		return err
	}
	if skipped > 0 {
		fmt.Fprintf(os.Stderr, "benchplot: %s: skipped %d results lacking a key of -x\n", name, skipped)
	}
	if o.title != "" {
		t = o.title + "\n\n" + t
	}
	if err := os.WriteFile(o.out, []byte(t), 0o644); err != nil {
		return fmt.Errorf("benchplot: %w", err)
	}
	return nil
}
