package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// A point is one run of one benchmark: its keys and the plotted metric.
type point struct {
	keys  map[string]string
	value float64
}

// readPoints parses Go benchmark text and returns one point per result that
// reports metric and matches every filter entry. metric is compared with the
// unit as printed (ns/op) as well as with benchfmt's tidied unit (sec/op), and
// the value is taken in the unit that matched. Malformed lines, such as a
// benchmark's name followed by its failure, are returned as bad and skipped,
// as benchstat does.
func readPoints(r io.Reader, file, metric string, filter []cond) (pts []point, bad []error, err error) {
	br := benchfmt.NewReader(r, file)
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			bad = append(bad, rec)
		case *benchfmt.Result:
			v, ok := metricValue(rec, metric)
			if !ok {
				continue
			}
			keys := resultKeys(rec)
			if !matches(keys, filter) {
				continue
			}
			pts = append(pts, point{keys: keys, value: v})
		}
	}
	if err := br.Err(); err != nil {
		return nil, nil, fmt.Errorf("benchplot: %s: %w", file, err)
	}
	return pts, bad, nil
}

func metricValue(r *benchfmt.Result, metric string) (float64, bool) {
	for _, v := range r.Values {
		if v.OrigUnit == metric {
			return v.OrigValue, true
		}
		if v.Unit == metric {
			return v.Value, true
		}
	}
	return 0, false
}

// resultKeys collects a result's dimensions: file configuration, then the
// name's base, key=value parts and GOMAXPROCS suffix, which win on clashes.
// Positional name parts (no "=") have no key and are left out.
func resultKeys(r *benchfmt.Result) map[string]string {
	keys := make(map[string]string, len(r.Config)+6)
	for _, c := range r.Config {
		keys[c.Key] = string(c.Value)
	}
	base, parts := r.Name.Parts()
	keys[".name"] = strings.TrimPrefix(string(base), "Benchmark")
	for _, p := range parts {
		switch p[0] {
		case '/':
			if k, v, ok := strings.Cut(string(p[1:]), "="); ok {
				keys[k] = v
			}
		case '-':
			keys["gomaxprocs"] = string(p[1:])
		}
	}
	return keys
}

// A cond is one -filter entry: key=value, or key!=value when neg. value
// may list alternatives, a|b: key=a|b keeps a and b, key!=a|b drops them.
type cond struct {
	key    string
	values []string
	neg    bool
}

// matches reports whether keys meet every cond. A key the result lacks
// fails key=value and passes key!=value.
func matches(keys map[string]string, filter []cond) bool {
	for _, c := range filter {
		got, ok := keys[c.key]
		if (ok && slices.Contains(c.values, got)) == c.neg {
			return false
		}
	}
	return true
}

// parseFilter parses "key=value,key!=value,key=a|b".
func parseFilter(s string) ([]cond, error) {
	var f []cond
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		c := cond{values: strings.Split(v, "|")}
		if c.key, c.neg = strings.CutSuffix(k, "!"); !ok || c.key == "" {
			return nil, fmt.Errorf("benchplot: -filter entry %q: want key=value or key!=value", kv)
		}
		f = append(f, c)
	}
	return f, nil
}

// A ratio divides every point by its reference: the runs with Key=Value
// that agree with it on every key of By, e.g. each queue-manager row by
// the impl=relay row of the same shape.
type ratio struct {
	Key, Value string
	By         []string
}

// parseRatio parses -ratio key=value and -ratio-by keys.
func parseRatio(kv, by string) (*ratio, error) {
	if kv == "" {
		if by != "" {
			return nil, errors.New("benchplot: -ratio-by needs -ratio")
		}
		return nil, nil
	}
	k, v, ok := strings.Cut(kv, "=")
	r := &ratio{Key: k, Value: v, By: splitList(by)}
	if !ok || k == "" {
		return nil, fmt.Errorf("benchplot: -ratio %q: want key=value", kv)
	}
	if len(r.By) == 0 {
		return nil, errors.New("benchplot: -ratio needs -ratio-by: the keys a point shares with its reference")
	}
	return r, nil
}

// apply divides each point's value by the median of its reference's runs.
// Reference points themselves are left out, and so are points without a
// reference (or one whose median is 0) or lacking a key of By, which are
// counted in missing. Each run
// keeps its own value over the reference's median, so a cell's median is
// the ratio of the medians and its min and max are the point's spread.
func (r *ratio) apply(pts []point) (out []point, missing int) {
	key := func(p point) (string, bool) {
		vals := make([]string, len(r.By))
		for i, k := range r.By {
			v, ok := p.keys[k]
			if !ok {
				return "", false
			}
			vals[i] = v
		}
		return strings.Join(vals, "\x00"), true
	}
	refs := map[string][]float64{}
	for _, p := range pts {
		if p.keys[r.Key] != r.Value {
			continue
		}
		if k, ok := key(p); ok {
			refs[k] = append(refs[k], p.value)
		}
	}
	for _, p := range pts {
		if p.keys[r.Key] == r.Value {
			continue
		}
		k, ok := key(p)
		ref := refs[k]
		if !ok || len(ref) == 0 || summarize(ref).Median == 0 {
			missing++
			continue
		}
		out = append(out, point{keys: p.keys, value: p.value / summarize(ref).Median})
	}
	return out, missing
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// A spec says which name keys become the x axis, the series and the panels.
// Each may be several keys; Series and Panel may be empty, making everything
// one series or one panel.
type spec struct {
	X, Series, Panel []string
}

func (s spec) keys() []string {
	return slices.Concat(s.X, s.Series, s.Panel)
}

// A cell addresses one plotted value by its three labels.
type cell struct{ Panel, Series, X string }

// A stat summarises the runs of one cell.
type stat struct {
	Median, Min, Max float64
	N                int
}

// A grid is the grouped data, with each dimension's labels in plotting order.
// X labels join values with "x" (prod,cons: "4x16"), series labels with "/",
// and panel labels are "key=value" pairs, ready to be a panel title.
type grid struct {
	X, Series, Panels []string
	Cells             map[cell]stat
}

// group summarises points per (panel, series, x) cell and orders each
// dimension: numerically when every value is a number (composite labels
// compare value by value), else by first appearance, which keeps the order in
// which the benchmark ran its cases. Points lacking a key of s are skipped
// and counted.
func group(pts []point, s spec) (grid, int) {
	x := newLabels(s.X, func(_, v []string) string { return strings.Join(v, "x") })
	series := newLabels(s.Series, func(_, v []string) string { return strings.Join(v, "/") })
	panels := newLabels(s.Panel, func(k, v []string) string {
		kv := make([]string, len(k))
		for i := range k {
			kv[i] = k[i] + "=" + v[i]
		}
		return strings.Join(kv, " ")
	})
	runs := map[cell][]float64{}
	skipped := 0
	for _, p := range pts {
		xv, ok1 := x.values(p.keys)
		sv, ok2 := series.values(p.keys)
		pv, ok3 := panels.values(p.keys)
		if !ok1 || !ok2 || !ok3 {
			skipped++
			continue
		}
		c := cell{Panel: panels.add(pv), Series: series.add(sv), X: x.add(xv)}
		runs[c] = append(runs[c], p.value)
	}
	g := grid{X: x.ordered(), Series: series.ordered(), Panels: panels.ordered(), Cells: make(map[cell]stat, len(runs))}
	for c, vs := range runs {
		g.Cells[c] = summarize(vs)
	}
	return g, skipped
}

// labels collects the distinct value tuples of one dimension's keys.
type labels struct {
	keys   []string
	format func(keys, vals []string) string
	seen   map[string]bool
	names  []string
	tuples [][]string
}

func newLabels(keys []string, format func(keys, vals []string) string) *labels {
	return &labels{keys: keys, format: format, seen: map[string]bool{}}
}

// values returns a point's values of the dimension's keys, or false if it
// lacks one. A dimension without keys has no values, and the label "".
func (l *labels) values(kv map[string]string) ([]string, bool) {
	vals := make([]string, len(l.keys))
	for i, k := range l.keys {
		v, ok := kv[k]
		if !ok {
			return nil, false
		}
		vals[i] = v
	}
	return vals, true
}

// add records vals and returns their label.
func (l *labels) add(vals []string) string {
	name := l.format(l.keys, vals)
	if !l.seen[name] {
		l.seen[name] = true
		l.names = append(l.names, name)
		l.tuples = append(l.tuples, vals)
	}
	return name
}

// ordered returns the labels sorted numerically if every value parses as a
// number, else in first-appearance order.
func (l *labels) ordered() []string {
	nums := make([][]float64, len(l.tuples))
	for i, t := range l.tuples {
		nums[i] = make([]float64, len(t))
		for j, v := range t {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return l.names
			}
			nums[i][j] = f
		}
	}
	idx := make([]int, len(l.names))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return slices.Compare(nums[a], nums[b]) })
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = l.names[j]
	}
	return out
}

func summarize(vs []float64) stat {
	s := slices.Sorted(slices.Values(vs))
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{Median: med, Min: s[0], Max: s[n-1], N: n}
}
