// Package picture draws what the fastvae command shows its user: grids of
// images of any size, grey-scale or colour (inputs, reconstructions,
// samples, the 2-D latent manifold), the loss curve and the latent scatter
// plot, written as PNG.
//
// Image grids are drawn pixel by pixel with the standard library, laid out as
// torchvision's save_image lays them out (2-pixel black padding), so they
// compare directly with the PyTorch example's pictures. Plots with axes use
// gonum.org/v1/plot.
package picture

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"

	"github.com/fastvae/fastvae/internal/atomicfile"
)

// pad is the border around every tile, in pixels, as torchvision's default.
const pad = 2

// Grid lays out images, each rows×cols pixels of channels values in
// [0, 1] (1: grey; 3: red, green, blue, channels last as in a NumPy image
// array) stored row-major, perRow to a row, on a black background with a
// 2-pixel border round each tile. Values outside [0, 1] are clamped; NaN
// is drawn black. The result is an *image.Gray or, for colour, an
// *image.RGBA.
func Grid(images [][]float32, rows, cols, channels, perRow int) (image.Image, error) {
	if len(images) == 0 || rows <= 0 || cols <= 0 || perRow <= 0 || (channels != 1 && channels != 3) {
		return nil, fmt.Errorf("picture: Grid: %d images of %d×%d pixels of %d channels, %d per row", len(images), rows, cols, channels, perRow)
	}
	for i, im := range images {
		if len(im) != rows*cols*channels {
			if channels == 1 {
				return nil, fmt.Errorf("picture: Grid: image %d has %d pixels, want %d×%d", i, len(im), rows, cols)
			}
			return nil, fmt.Errorf("picture: Grid: image %d has %d values, want %d×%d×%d", i, len(im), rows, cols, channels)
		}
	}
	perRow = min(perRow, len(images))
	nrows := (len(images) + perRow - 1) / perRow
	bounds := image.Rect(0, 0, perRow*(cols+pad)+pad, nrows*(rows+pad)+pad)
	var pix []uint8
	var stride, bpp int // bytes per pixel in the picture
	var img image.Image
	if channels == 1 {
		g := image.NewGray(bounds)
		pix, stride, bpp, img = g.Pix, g.Stride, 1, g
	} else {
		c := image.NewRGBA(bounds)
		for i := 3; i < len(c.Pix); i += 4 {
			c.Pix[i] = 255 // opaque black background
		}
		pix, stride, bpp, img = c.Pix, c.Stride, 4, c
	}
	for i, im := range images {
		x0 := pad + (i%perRow)*(cols+pad)
		y0 := pad + (i/perRow)*(rows+pad)
		for y := range rows {
			line := pix[(y0+y)*stride+x0*bpp:]
			src := im[y*cols*channels : (y+1)*cols*channels]
			for x := range cols {
				for c := range channels {
					line[x*bpp+c] = grey(src[x*channels+c])
				}
			}
		}
	}
	return img, nil
}

// grey maps v in [0, 1] to a byte as torchvision does (v*255 + 0.5, clamped).
func grey(v float32) uint8 {
	switch {
	case !(v > 0): // also NaN
		return 0
	case v >= 1:
		return 255
	}
	return uint8(v*255 + 0.5)
}

// ManifoldPoints returns the n×n latent points of a 2-D manifold picture:
// z = (Φ⁻¹(u), Φ⁻¹(v)) for u, v evenly spaced in (0, 1), so that equal areas
// of the picture hold equal prior mass. Row r, column c is point r*n+c; z₀
// grows to the right and z₁ upwards, as on the axes of a scatter plot.
func ManifoldPoints(n int) [][2]float32 {
	q := make([]float32, n)
	for i := range q {
		p := (float64(i) + 0.5) / float64(n)
		q[i] = float32(math.Sqrt2 * math.Erfinv(2*p-1))
	}
	pts := make([][2]float32, 0, n*n)
	for r := range n {
		for c := range n {
			pts = append(pts, [2]float32{q[c], q[n-1-r]})
		}
	}
	return pts
}

// WritePNG encodes img as PNG into path atomically: readers of path see the
// old picture or the new one, never half of one.
func WritePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return writeFile(path, buf.Bytes())
}

// writeFile replaces path by data atomically.
func writeFile(path string, data []byte) error {
	if err := atomicfile.WriteBytes(path, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
