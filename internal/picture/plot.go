package picture

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// palette is the ten-colour categorical palette of matplotlib and Tableau
// ("tab10"), chosen to stay distinguishable side by side.
var palette = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

// LossCurve draws the average loss per epoch, train and test, epoch 1 first,
// into the PNG file path. Non-finite values are left out.
func LossCurve(path string, train, test []float64) error {
	p := plot.New()
	p.Title.Text = "Loss per epoch"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "loss (nats per image)"
	p.X.Tick.Marker = integerTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	for i, s := range []struct {
		name string
		loss []float64
	}{{"train", train}, {"test", test}} {
		var xys plotter.XYs
		for e, l := range s.loss {
			if !math.IsNaN(l) && !math.IsInf(l, 0) {
				xys = append(xys, plotter.XY{X: float64(e + 1), Y: l})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		line.Color = palette[i]
		line.Width = vg.Points(1.5)
		points.Color = palette[i]
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	return WritePlot(path, 6*vg.Inch, 4*vg.Inch, p.Draw)
}

// Scatter draws points (x, y) coloured by their label, with a legend naming
// each label by names[label] when names has it and by its number otherwise,
// into the PNG file path. labels may be nil (one colour, no legend).
func Scatter(path, title string, points [][2]float32, labels []int, names []string) error {
	if labels != nil && len(labels) != len(points) {
		return fmt.Errorf("picture: Scatter: %d labels for %d points", len(labels), len(points))
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "z₀"
	p.Y.Label.Text = "z₁"
	p.Add(plotter.NewGrid())
	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	byLabel := map[int]plotter.XYs{}
	for i, pt := range points {
		var l int
		if labels != nil {
			l = labels[i]
		}
		x, y := float64(pt[0]), float64(pt[1])
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
			continue
		}
		byLabel[l] = append(byLabel[l], plotter.XY{X: x, Y: y})
	}
	keys := make([]int, 0, len(byLabel))
	for l := range byLabel {
		keys = append(keys, l)
	}
	slices.Sort(keys)
	for _, l := range keys {
		s, err := plotter.NewScatter(byLabel[l])
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		c := colourOf(l)
		c.A = 0xa0
		s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(1.2), Shape: draw.CircleGlyph{}}
		p.Add(s)
		if labels != nil && len(keys) <= 2*len(palette) {
			name := strconv.Itoa(l)
			if l >= 0 && l < len(names) {
				name = names[l]
			}
			// The legend's glyph is drawn larger and opaque to be readable.
			thumb := *s
			thumb.GlyphStyle.Radius = vg.Points(3)
			thumb.GlyphStyle.Color = colourOf(l)
			legend.Add(name, &thumb)
		}
	}
	// The legend goes in a column of its own, right of the plot, so that it
	// never hides points.
	w, h := 7*vg.Inch, 6*vg.Inch
	legendW := vg.Length(0)
	if labels != nil && len(keys) <= 2*len(palette) {
		legendW = 1.4 * vg.Inch
	}
	return WritePlot(path, w, h, func(dc draw.Canvas) {
		p.Draw(draw.Crop(dc, 0, -legendW, 0, 0))
		if legendW > 0 {
			legend.Draw(draw.Crop(dc, w-legendW+vg.Points(8), 0, 0, -vg.Points(20)))
		}
	})
}

// colourOf is the palette's colour of label l (negative labels too).
func colourOf(l int) color.NRGBA {
	n := len(palette)
	return palette[((l%n)+n)%n]
}

// WritePlot draws with paint onto a white canvas of w×h (at gonum/plot's
// default resolution) and writes it as PNG to path, atomically as WritePNG
// does.
func WritePlot(path string, w, h vg.Length, paint func(dc draw.Canvas)) error {
	c := vgimg.New(w, h)
	paint(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return writeFile(path, buf.Bytes())
}

// integerTicks marks whole epochs only, at most about ten of them.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	first, last := math.Ceil(lo), math.Floor(hi)
	step := math.Max(1, math.Ceil((last-first)/10))
	var ts []plot.Tick
	for v := first; v <= last; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
	}
	return ts
}
