package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chart holds the presentation choices of one figure.
type chart struct {
	kind, title, metric, xLabel string
	seriesKey                   string
	logY                        bool
	ref                         *float64 // a dashed line at this y; nil: none
}

// Figure geometry. Panels are laid out in a near-square grid, with one
// shared legend on the right so that a series keeps its color in every panel.
const (
	panelW  = 5.5 * vg.Inch
	panelH  = 3.8 * vg.Inch
	titleH  = 0.55 * vg.Inch
	gap     = 0.25 * vg.Inch
	pngDPI  = 120
	rotateX = 10 // rotate x tick labels past this many categories
)

// render draws g into out, a .png or .svg file.
func render(g grid, c chart, out string) error {
	if c.logY {
		for _, pn := range g.Panels {
			for _, s := range g.Series {
				for _, x := range g.X {
					k := cell{Panel: pn, Series: s, X: x}
					if st, ok := g.Cells[k]; ok && st.Min <= 0 {
						return fmt.Errorf("benchplot: -logy needs positive values; %s has %g", describe(k, c), st.Min)
					}
				}
			}
		}
	}
	plots := make([]*plot.Plot, len(g.Panels))
	for i, pn := range g.Panels {
		plots[i] = panelPlot(g, pn, c)
	}
	cols := int(math.Ceil(math.Sqrt(float64(len(plots)))))
	rows := (len(plots) + cols - 1) / cols
	leg, legW := legend(g, c)
	w := vg.Length(cols)*panelW + legW
	h := vg.Length(rows)*panelH + titleH

	var cw vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(out)) {
	case ".svg":
		cw = vgsvg.New(w, h)
	default:
		cw = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI), vgimg.UseBackgroundColor(color.White))}
	}
	dc := draw.New(cw)

	ts := textStyle(16)
	ts.XAlign, ts.YAlign = draw.XCenter, draw.YTop
	dc.FillText(ts, vg.Point{X: (w - legW) / 2, Y: h - gap/4}, c.title)
	ss := textStyle(10)
	ss.XAlign, ss.YAlign = draw.XCenter, draw.YTop
	dc.FillText(ss, vg.Point{X: (w - legW) / 2, Y: h - gap/2 - ts.Height(c.title)}, subtitle(g))

	tiles := make([][]*plot.Plot, rows)
	for r := range tiles {
		tiles[r] = make([]*plot.Plot, cols)
		for col := range tiles[r] {
			if i := r*cols + col; i < len(plots) {
				tiles[r][col] = plots[i]
			}
		}
	}
	area := draw.Crop(dc, 0, -legW, 0, -titleH)
	canvases := plot.Align(tiles, draw.Tiles{
		Rows: rows, Cols: cols, PadX: gap, PadY: gap,
		PadLeft: gap / 2, PadRight: gap / 2, PadBottom: gap / 2,
	}, area)
	for r := range tiles {
		for col, p := range tiles[r] {
			if p != nil {
				p.Draw(canvases[r][col])
			}
		}
	}
	if leg != nil {
		lc := draw.Crop(dc, w-legW+gap/2, 0, 0, -titleH-gap)
		hs := textStyle(12)
		hs.YAlign = draw.YTop
		dc.FillText(hs, vg.Point{X: lc.Min.X, Y: lc.Max.Y}, c.seriesKey)
		leg.Draw(draw.Crop(lc, 0, 0, 0, -hs.Height(c.seriesKey)-gap/4))
	}

	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("benchplot: %w", err)
	}
	if _, err := cw.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("benchplot: write %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("benchplot: %w", err)
	}
	return nil
}

// panelPlot draws one panel: each series as a line of medians (or a bar per
// x), offset a little sideways so that whiskers of neighbours don't overlap.
func panelPlot(g grid, panel string, c chart) *plot.Plot {
	p := plot.New()
	p.Title.Text = panel
	p.X.Label.Text = c.xLabel
	p.Y.Label.Text = c.metric
	p.NominalX(g.X...)
	if len(g.X) > rotateX {
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)
	// Every panel shows every category, so that panels line up.
	p.X.Min, p.X.Max = -0.5, float64(len(g.X))-0.5
	p.Y.Tick.Marker = siTicks{}
	if c.logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	if c.kind == "bar" {
		p.Y.Min = 0
	}

	n := len(g.Series)
	width := 0.8 / float64(n) // of one x category, for bars
	spread := 0.3             // of one x category, for line whiskers
	for si, s := range g.Series {
		var off float64
		switch {
		case c.kind == "bar":
			off = (float64(si) - float64(n-1)/2) * width
		case n > 1:
			off = (float64(si)/float64(n-1) - 0.5) * spread
		}
		var pts errPoints
		for xi, x := range g.X {
			st, ok := g.Cells[cell{Panel: panel, Series: s, X: x}]
			if !ok {
				continue
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: float64(xi) + off, Y: st.Median})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{st.Median - st.Min, st.Max - st.Median})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		col := plotutil.Color(si)
		switch c.kind {
		case "bar":
			p.Add(&bars{XYs: pts.XYs, width: width * 0.9, color: col})
		case "point":
			_, sc := seriesStyle(pts.XYs, si)
			p.Add(sc)
		default:
			l, sc := seriesStyle(pts.XYs, si)
			p.Add(l, sc)
		}
		eb, err := plotter.NewYErrorBars(pts)
		if err != nil {
			panic(err) // medians and spreads come from parsed floats: finite
		}
		eb.Color = color.Gray{Y: 60}
		eb.CapWidth = vg.Points(4)
		p.Add(eb)
	}
	if c.ref != nil {
		p.Add(refLine(len(g.X), *c.ref))
	}
	padY(p, c.logY)
	return p
}

// refLine is a dashed line at y across n categories: where a ratio breaks
// even, or an efficiency is perfect.
func refLine(n int, y float64) *plotter.Line {
	l, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: y}, {X: float64(n) - 0.5, Y: y}})
	if err != nil {
		panic(err) // constant, finite points
	}
	l.Color = color.Gray{Y: 90}
	l.Width = vg.Points(1)
	l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	return l
}

// padY widens the y range by 5% at each end (in log space on a log axis) so
// that markers and whiskers at the extremes are not cut by the frame. A
// linear range never crosses 0 by padding.
func padY(p *plot.Plot, logY bool) {
	lo, hi := p.Y.Min, p.Y.Max
	if logY {
		f := math.Pow(hi/lo, 0.05)
		if f == 1 {
			f = 1.1
		}
		p.Y.Min, p.Y.Max = lo/f, hi*f
		return
	}
	d := (hi - lo) * 0.05
	if d == 0 {
		d = math.Abs(hi)*0.1 + 1
	}
	switch {
	case lo > 0:
		p.Y.Min = max(0, lo-d)
	case lo < 0:
		p.Y.Min = lo - d
	}
	p.Y.Max = hi + d
}

// seriesStyle gives series i its line and marker; the legend uses the same.
func seriesStyle(xys plotter.XYs, i int) (*plotter.Line, *plotter.Scatter) {
	l, sc, err := plotter.NewLinePoints(xys)
	if err != nil {
		panic(err) // finite by construction, as above
	}
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
	sc.Color = plotutil.Color(i)
	sc.Shape = plotutil.Shape(i)
	sc.Radius = vg.Points(3)
	return l, sc
}

// legend returns the shared legend and the width it needs, or nil when there
// is a single unnamed series.
func legend(g grid, c chart) (*plot.Legend, vg.Length) {
	if len(g.Series) == 1 && g.Series[0] == "" {
		return nil, 0
	}
	l := plot.NewLegend()
	l.Top, l.Left = true, true
	l.TextStyle = textStyle(11)
	l.Padding = vg.Points(3)
	widest := textStyle(12).Width(c.seriesKey)
	for i, s := range g.Series {
		ln, sc := seriesStyle(plotter.XYs{{}}, i)
		switch c.kind {
		case "bar":
			l.Add(s, &bars{color: plotutil.Color(i)})
		case "point":
			l.Add(s, sc)
		default:
			l.Add(s, ln, sc)
		}
		widest = max(widest, l.ThumbnailWidth+l.TextStyle.Width(" "+s))
	}
	return &l, widest + gap
}

// subtitle says what the marks mean and how many runs they summarise.
func subtitle(g grid) string {
	lo, hi := math.MaxInt, 0
	for _, st := range g.Cells {
		lo, hi = min(lo, st.N), max(hi, st.N)
	}
	runs := strconv.Itoa(lo)
	if lo != hi {
		runs += "-" + strconv.Itoa(hi)
	}
	if hi == 1 {
		return "one run per point: no spread"
	}
	return "median of " + runs + " runs; whiskers: min and max"
}

func textStyle(size vg.Length) text.Style {
	return text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, size),
		Handler: plot.DefaultTextHandler,
	}
}

// errPoints are medians with their distance down to the min and up to the max.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// bars draws a bar from 0 to each point's Y, width data units wide.
type bars struct {
	plotter.XYs
	width float64
	color color.Color
}

func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, xy := range b.XYs {
		x0, x1 := trX(xy.X-b.width/2), trX(xy.X+b.width/2)
		y0, y1 := trY(0), trY(xy.Y)
		c.FillPolygon(b.color, c.ClipPolygonXY([]vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}))
	}
}

func (b *bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), 0, 0
	for _, xy := range b.XYs {
		xmin, xmax = min(xmin, xy.X-b.width/2), max(xmax, xy.X+b.width/2)
		ymin, ymax = min(ymin, xy.Y), max(ymax, xy.Y)
	}
	return xmin, xmax, ymin, ymax
}

func (b *bars) Thumbnail(c *draw.Canvas) {
	r := c.Rectangle
	c.FillPolygon(b.color, []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}})
}

// logTicks labels 1, 2 and 5 times each power of ten, so that a range within
// one decade still gets labels (plot.LogTicks labels powers of ten only). A
// range too narrow for two such labels gets linear siTicks.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	labels := 0
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for m := 1.0; m < 10; m++ {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = siFormat(v)
				labels++
			}
			ticks = append(ticks, t)
		}
	}
	if labels < 2 {
		return siTicks{}.Ticks(lo, hi)
	}
	return ticks
}

// siTicks are plot.DefaultTicks labelled "2M" rather than "2e+06".
type siTicks struct{}

func (siTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if !t.IsMinor() {
			ticks[i].Label = siFormat(t.Value)
		}
	}
	return ticks
}

// siFormat prints 2000 as "2k" and 5e6 as "5M".
func siFormat(v float64) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= u.div {
			return strconv.FormatFloat(v/u.div, 'g', 4, 64) + u.suffix
		}
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func describe(k cell, c chart) string {
	d := c.xLabel + "=" + k.X
	if c.seriesKey != "" {
		d += " " + c.seriesKey + "=" + k.Series
	}
	if k.Panel != "" {
		d += " " + k.Panel
	}
	return d
}
