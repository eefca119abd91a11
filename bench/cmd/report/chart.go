package main

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/fastvae/fastvae/internal/picture"
)

// palette gives each column a fixed colour in the order the table lists
// them (Okabe–Ito, readable for colour-blind readers).
var palette = []color.RGBA{
	{0, 114, 178, 255}, {230, 159, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{86, 180, 233, 255}, {213, 94, 0, 255}, {240, 228, 66, 255}, {0, 0, 0, 255},
}

// writeChart draws the GEMM benchmark's GFLOP/s as grouped bars, one group
// per shape and layout, one bar per implementation, one panel per thread
// count, and writes it as PNG to path.
func writeChart(path string, x *bench) error {
	threadsKey := slices.Index(x.keys, "threads")
	var threads []string
	for _, row := range x.rows {
		t := "all"
		if threadsKey >= 0 {
			t = x.rowValues(row)[threadsKey]
		}
		if !slices.Contains(threads, t) {
			threads = append(threads, t)
		}
	}
	cols := append(x.ours(), x.peers()...)

	var plots [][]*plot.Plot
	for _, t := range threads {
		var rows, labels []string
		for _, row := range x.rows {
			vals := x.rowValues(row)
			if threadsKey >= 0 && vals[threadsKey] != t {
				continue
			}
			rows = append(rows, row)
			var l []string
			for i := range x.keys {
				if i != threadsKey {
					l = append(l, vals[i])
				}
			}
			labels = append(labels, joinLabel(l))
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("SGEMM, threads=%s", t)
		p.Y.Label.Text = "GFLOP/s (median)"
		p.Y.Min = 0
		p.X.Tick.Label.Rotation = math.Pi / 5
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
		p.Y.Tick.Marker = plainTicks{}
		p.Legend.Top = true
		p.Legend.Left = true
		p.Legend.Padding = vg.Points(4)
		// A group of bars fills 80% of its slot of the ~15 inch wide axis.
		width := vg.Points(0.8 * 15 * 72 / float64(len(rows)*len(cols)))
		top := 0.0
		for i, c := range cols {
			vals := make(plotter.Values, len(rows))
			for j, row := range rows {
				if v := x.cells[cellKey{row, c}]["GFLOP/s"]; len(v) > 0 {
					vals[j] = median(v)
					top = max(top, vals[j])
				}
			}
			bars, err := plotter.NewBarChart(vals, width)
			if err != nil {
				return err
			}
			bars.Color = palette[i%len(palette)]
			bars.LineStyle.Width = 0
			bars.Offset = width * vg.Length(float64(i)-float64(len(cols)-1)/2)
			p.Add(bars)
			p.Legend.Add(c.String(), bars)
		}
		p.Add(plotter.NewGrid())
		p.NominalX(labels...)
		p.X.Min, p.X.Max = -0.5, float64(len(rows))-0.5
		p.Y.Max = top * 1.65 // room for the legend above the bars
		plots = append(plots, []*plot.Plot{p})
	}

	const panelH = 4.5
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4),
		PadLeft: vg.Points(4), PadRight: vg.Points(8), PadY: vg.Points(12)}
	return picture.WritePlot(path, 16*vg.Inch, vg.Length(panelH*float64(len(plots)))*vg.Inch, func(dc draw.Canvas) {
		canvases := plot.Align(plots, tiles, dc)
		for i := range plots {
			plots[i][0].Draw(canvases[i][0])
		}
	})
}

// plainTicks are gonum/plot's default ticks labelled without trailing
// zeros ("250", not "250.00").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}

// joinLabel names a group of bars by its configuration, e.g. "128x400x784 NT".
func joinLabel(parts []string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += " "
		}
		out += p
	}
	return out
}
