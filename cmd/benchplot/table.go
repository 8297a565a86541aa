package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// table writes a markdown table of the medians in data: a row per distinct
// tuple of the keys' values, in the order the benchmark ran them, a column
// per key, then per metric the median of the row's runs; the first metric
// also gets its min and max, and the last column counts its runs. A row
// lacking a metric shows "-" there; results lacking a key are skipped and
// counted.
func table(data []byte, file string, metrics, keys []string, filter []cond) (string, int, error) {
	rows := newLabels(keys, func(_, v []string) string { return strings.Join(v, "\x00") })
	cells := make([]map[string][]float64, len(metrics))
	skipped := 0
	for i, m := range metrics {
		pts, _, err := readPoints(bytes.NewReader(data), file, m, filter)
		if err != nil {
			return "", 0, err
		}
		cells[i] = map[string][]float64{}
		for _, p := range pts {
			v, ok := rows.values(p.keys)
			if !ok {
				skipped++
				continue
			}
			r := rows.add(v)
			cells[i][r] = append(cells[i][r], p.value)
		}
	}
	if len(rows.names) == 0 {
		return "", skipped, fmt.Errorf("benchplot: %s: no results with metric %v and keys %v", file, metrics, keys)
	}
	var b strings.Builder
	head := append(append([]string{}, keys...), metrics...)
	head[len(keys)] += " (min-max)"
	head = append(head, "runs")
	writeRow(&b, head)
	writeRow(&b, strings.Split(strings.Repeat("---,", len(head)-1)+"---", ","))
	for _, r := range rows.names {
		row := strings.Split(r, "\x00")
		for i := range metrics {
			vs := cells[i][r]
			if len(vs) == 0 {
				row = append(row, "-")
				continue
			}
			st := summarize(vs)
			s := tableNum(st.Median)
			if i == 0 {
				s += " (" + tableNum(st.Min) + "-" + tableNum(st.Max) + ")"
			}
			row = append(row, s)
		}
		row = append(row, strconv.Itoa(len(cells[0][r])))
		writeRow(&b, row)
	}
	return b.String(), skipped, nil
}

func writeRow(b *strings.Builder, cols []string) {
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
}

// tableNum prints three significant digits, without an exponent below a
// million.
func tableNum(v float64) string {
	if a := math.Abs(v); a >= 1000 && a < 1e6 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
