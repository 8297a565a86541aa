package main

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchunit"
)

// summaryLine compares the columns of data, the values of the keys cols
// (impl: one column per queue kind), on one metric: per column the geomean
// of its rows' medians, and its change against the first column. A row is
// a result's name without the column keys and the keys in ignore, so that
// impl=relay/policy=none and impl=priority/policy=priority with ignore
// policy are one row. Only rows that every column has count: a geomean
// over other rows, or a change between columns over rows one of them
// lacks, would compare unlike with unlike. The line ends with how many
// rows counted and how many were left out.
func summaryLine(data []byte, file, metric string, cols, ignore []string, filter []cond) (string, error) {
	type row struct{ col, row string }
	var (
		colNames, rowNames []string
		runs               = map[row][]float64{}
	)
	skip := slices.Concat(cols, ignore)
	br := benchfmt.NewReader(bytes.NewReader(data), file)
	for br.Scan() {
		res, ok := br.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		v, ok := metricValue(res, metric)
		keys := resultKeys(res)
		if !ok || !matches(keys, filter) {
			continue
		}
		colVals := make([]string, len(cols))
		for i, k := range cols {
			if colVals[i], ok = keys[k]; !ok {
				break
			}
		}
		if !ok {
			continue
		}
		base, parts := res.Name.Parts()
		name := string(base)
		for _, p := range parts {
			k, _, _ := strings.Cut(string(p[1:]), "=")
			if p[0] == '/' && slices.Contains(skip, k) {
				continue
			}
			name += string(p)
		}
		c := strings.Join(colVals, "/")
		if !slices.Contains(colNames, c) {
			colNames = append(colNames, c)
		}
		if !slices.Contains(rowNames, name) {
			rowNames = append(rowNames, name)
		}
		runs[row{c, name}] = append(runs[row{c, name}], v)
	}
	if err := br.Err(); err != nil {
		return "", fmt.Errorf("benchplot: %s: %w", file, err)
	}
	if len(colNames) == 0 {
		return "", fmt.Errorf("benchplot: %s: no results with metric %q and keys %v", file, metric, cols)
	}
	var common []string
	for _, r := range rowNames {
		if !slices.ContainsFunc(colNames, func(c string) bool { return len(runs[row{c, r}]) == 0 }) {
			common = append(common, r)
		}
	}
	if len(common) == 0 {
		return "", fmt.Errorf("benchplot: %s: no row that every %s (%s) has", file, strings.Join(cols, ","), strings.Join(colNames, ", "))
	}
	// The geomean of one row is its median, 0 included; of several it
	// needs every median above 0.
	means := make([]float64, len(colNames))
	for i, c := range colNames {
		logSum := 0.0
		for _, r := range common {
			m := summarize(runs[row{c, r}]).Median
			if len(common) == 1 {
				means[i] = m
				break
			}
			if m <= 0 {
				return "", fmt.Errorf("benchplot: %s: %s %s has median %v: no geomean", file, c, r, m)
			}
			logSum += math.Log(m)
		}
		if len(common) > 1 {
			means[i] = math.Exp(logSum / float64(len(common)))
		}
	}
	var b strings.Builder
	for i, c := range colNames {
		if i > 0 {
			b.WriteString(" | ")
		}
		fmt.Fprintf(&b, "%s %s", c, summaryNum(means[i], metric))
		if i > 0 {
			if means[0] == 0 {
				b.WriteString(" n/a")
			} else {
				fmt.Fprintf(&b, " %+.2f%%", 100*(means[i]/means[0]-1))
			}
		}
	}
	what := fmt.Sprintf("geomean of the %d rows every column has", len(common))
	if len(common) == 1 {
		what = "the one row every column has"
	}
	fmt.Fprintf(&b, "  (%s", what)
	if left := len(rowNames) - len(common); left > 0 {
		fmt.Fprintf(&b, "; %d left out", left)
	}
	b.WriteString(")")
	return b.String(), nil
}

// summaryNum prints v as benchstat does (1.002m, 52.92n, 1.500M) when the
// unit is in seconds or v is large; small plain numbers (cpu% 0.08) as
// they are, not as 80.00m.
func summaryNum(v float64, unit string) string {
	if strings.Contains(unit, "sec") || math.Abs(v) >= 1000 {
		return benchunit.Scale(v, benchunit.ClassOf(unit))
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
