package soak

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WriteOutputs writes the report's intervals into dir as soak.csv and
// soak.png (tasks/s, latency and memory over time, one panel each), and
// the heap profiles of the two judged readings as heap-warm.pb.gz and
// heap-end.pb.gz (compare them with go tool pprof -diff_base), and returns
// the paths.
func WriteOutputs(dir string, r *Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	csvPath, pngPath := filepath.Join(dir, "soak.csv"), filepath.Join(dir, "soak.png")
	if err := writeCSV(csvPath, r); err != nil {
		return nil, err
	}
	if err := writePlot(pngPath, r); err != nil {
		return nil, err
	}
	paths := []string{csvPath, pngPath}
	for _, p := range []struct {
		name string
		b    []byte
	}{{"heap-warm.pb.gz", r.WarmProfile}, {"heap-end.pb.gz", r.EndProfile}} {
		if len(p.b) == 0 {
			continue
		}
		path := filepath.Join(dir, p.name)
		if err := os.WriteFile(path, p.b, 0o644); err != nil {
			return nil, fmt.Errorf("soak: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func writeCSV(path string, r *Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"seconds", "tasks_per_sec", "p50_ns", "p99_ns", "rss_bytes", "heap_alloc_bytes", "goroutines"})
	for _, iv := range r.Intervals {
		_ = w.Write([]string{strconv.FormatFloat(iv.At.Seconds(), 'f', 3, 64), strconv.FormatFloat(iv.TasksPerSec, 'f', 1, 64),
			strconv.FormatInt(iv.P50.Nanoseconds(), 10), strconv.FormatInt(iv.P99.Nanoseconds(), 10), strconv.FormatInt(iv.RSS, 10),
			strconv.FormatUint(iv.HeapAlloc, 10), strconv.Itoa(iv.Goroutines)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("soak: %s: %w", path, err)
	}
	return f.Close()
}

// Figure geometry, as in cmd/benchplot.
const (
	panelW = 7 * vg.Inch
	panelH = 2.6 * vg.Inch
	gap    = 0.25 * vg.Inch
	pngDPI = 120
)

var (
	blue   = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	orange = color.RGBA{R: 255, G: 127, B: 14, A: 255}
	red    = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	grey   = color.Gray{Y: 120}
)

// series is one line of a panel; a series with ref set is a dashed
// horizontal line at ref, one with points only markers.
type series struct {
	name   string
	xys    plotter.XYs
	ref    float64
	points bool
	color  color.Color
}

func writePlot(path string, r *Report) error {
	line := func(name string, c color.Color, y func(Interval) float64) series {
		xys := make(plotter.XYs, len(r.Intervals))
		for i, iv := range r.Intervals {
			xys[i] = plotter.XY{X: iv.At.Seconds(), Y: y(iv)}
		}
		return series{name: name, xys: xys, color: c}
	}
	toMiB := func(b float64) float64 { return b / (1 << 20) }
	panels := []struct {
		title, unit string
		series      []series
	}{
		{"throughput", "tasks/s", []series{
			line("received", blue, func(iv Interval) float64 { return iv.TasksPerSec }),
			{name: "offered", ref: r.Rate, color: grey},
		}},
		{"latency from intended send time", "ms", []series{
			line("p99 per interval", blue, func(iv Interval) float64 { return iv.P99.Seconds() * 1e3 }),
			line("p50 per interval", orange, func(iv Interval) float64 { return iv.P50.Seconds() * 1e3 }),
		}},
		{"queue manager memory", "MiB", []series{
			line("VmRSS under load", blue, func(iv Interval) float64 { return toMiB(float64(iv.RSS)) }),
			line("HeapAlloc under load", orange, func(iv Interval) float64 { return toMiB(float64(iv.HeapAlloc)) }),
			{name: "VmRSS after GC, nothing in flight (judged)", points: true, color: red, xys: plotter.XYs{
				{X: r.WarmAt.Seconds(), Y: toMiB(float64(r.WarmRSS))}, {X: r.EndAt.Seconds(), Y: toMiB(float64(r.EndRSS))}}},
			{name: fmt.Sprintf("limit: warm-up +%.0f%%", 100*r.Tolerance), ref: toMiB(float64(r.WarmRSS) * (1 + r.Tolerance)), color: red},
		}},
	}
	tiles := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "seconds"
		p.Y.Label.Text = pn.unit
		p.Y.Min = 0
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
		for _, sr := range pn.series {
			switch {
			case sr.ref > 0:
				f := plotter.NewFunction(func(float64) float64 { return sr.ref })
				f.Color, f.Dashes = sr.color, []vg.Length{vg.Points(4), vg.Points(3)}
				p.Add(f)
				p.Legend.Add(sr.name, f)
				p.Y.Max = max(p.Y.Max, sr.ref)
			case sr.points:
				sc, err := plotter.NewScatter(sr.xys)
				if err != nil {
					return fmt.Errorf("soak: plot: %w", err)
				}
				sc.Color, sc.Shape, sc.Radius = sr.color, draw.BoxGlyph{}, vg.Points(4)
				p.Add(sc)
				p.Legend.Add(sr.name, sc)
			case len(sr.xys) > 0:
				l, sc, err := plotter.NewLinePoints(sr.xys)
				if err != nil {
					return fmt.Errorf("soak: plot: %w", err)
				}
				l.Color, sc.Color = sr.color, sr.color
				p.Add(l, sc)
				p.Legend.Add(sr.name, l, sc)
			}
		}
		p.Y.Max *= 1 + 0.18*float64(len(pn.series)) // room for the legend above the data
		p.X.Min, p.X.Max = 0, max(r.EndAt.Seconds(), 1)
		tiles[i] = []*plot.Plot{p}
	}
	w, h := panelW, vg.Length(len(panels))*panelH
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	canvases := plot.Align(tiles, draw.Tiles{Rows: len(panels), Cols: 1, PadX: gap, PadY: gap,
		PadLeft: gap / 2, PadRight: gap / 2, PadTop: gap / 2, PadBottom: gap / 2}, dc)
	for i := range tiles {
		tiles[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("soak: write %s: %w", path, err)
	}
	return f.Close()
}
