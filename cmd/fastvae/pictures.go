package main

import (
	"fmt"
	"path/filepath"

	"github.com/fastvae/fastvae/internal/picture"
)

// manifoldSide returns the side of the 2-D latent manifold picture, in
// images: 20 for images up to 28 pixels, fewer for larger ones (the
// picture stays near 600 pixels a side), at least 8.
func manifoldSide(rows, cols int) int {
	return min(20, max(8, 600/(max(rows, cols)+2)))
}

// pictures writes the pictures of epoch e into the output directory:
// reconstructions of the first test images, samples (of a conditional
// model, a row of each class), the loss curve and, for a 2-D latent
// space, the manifold (of an unconditional model: a conditional one has
// one per class) and the scatter of test-set means. Data that are not
// images get the loss curve and the scatter only.
// Sampling draws from the model's evaluation stream, so a resumed run must
// (and does) draw the same pictures as an uninterrupted one.
func (t *trainer) pictures(e int) error {
	m, D := t.m, t.cfg.Input
	out := t.st.Out
	rows, cols, channels, isImage := t.test.Image()
	if isImage {
		k := min(8, t.test.Len())
		in := make([]float32, k*D)
		t.test.Rows(in, 0, k)
		rec := make([]float32, k*D)
		reconstructRows(m, rec, in, labelsOf(m, t.test, 0, k))
		if err := t.writeGrid(fmt.Sprintf("reconstruction_%d.png", e), append(in, rec...), rows, cols, channels, k); err != nil {
			return err
		}
		n, labels := 64, []int(nil) // or 8 of each class
		if C := t.cfg.Classes; C > 0 {
			n, labels = 8*C, classRows(C, 8)
		}
		samples := make([]float32, n*D)
		sampleRows(m, samples, labels)
		if err := t.writeGrid(fmt.Sprintf("sample_%d.png", e), samples, rows, cols, channels, 8); err != nil {
			return err
		}
	}
	var trainLoss, testLoss []float64
	for _, h := range t.st.History {
		trainLoss, testLoss = append(trainLoss, h.TrainLoss), append(testLoss, h.TestLoss)
	}
	if err := picture.LossCurve(filepath.Join(out, "loss.png"), trainLoss, testLoss); err != nil {
		return err
	}
	if t.cfg.Latent != 2 {
		return nil
	}
	if isImage && t.cfg.Classes == 0 {
		side := manifoldSide(rows, cols)
		pts := picture.ManifoldPoints(side)
		z := make([]float32, 0, 2*len(pts))
		for _, p := range pts {
			z = append(z, p[0], p[1])
		}
		dec := make([]float32, len(pts)*D)
		m.Decode(dec, z)
		if err := t.writeGrid(fmt.Sprintf("manifold_%d.png", e), dec, rows, cols, channels, side); err != nil {
			return err
		}
	}
	n := t.test.Len()
	mu, logvar := make([]float32, 2*n), make([]float32, 2*n)
	encodeSet(m, t.test, mu, logvar, t.x, t.st.BatchSize)
	means := make([][2]float32, n)
	for i := range means {
		means[i] = [2]float32{mu[2*i], mu[2*i+1]}
	}
	return picture.Scatter(filepath.Join(out, fmt.Sprintf("latent_%d.png", e)),
		fmt.Sprintf("Test-set latent means after epoch %d", e), means, t.test.Labels, t.names)
}

// writeGrid writes x, rows of the model's input size, as a grid into the
// output directory, in the data's own scale (standardisation undone).
func (t *trainer) writeGrid(name string, x []float32, rows, cols, channels, perRow int) error {
	if z := t.st.Normalize; z != nil {
		z.Invert(x)
	}
	return writeGrid(filepath.Join(t.st.Out, name), split(x, t.cfg.Input), rows, cols, channels, perRow)
}

// split views x as rows of d values.
func split(x []float32, d int) [][]float32 {
	var r [][]float32
	for i := 0; i+d <= len(x); i += d {
		r = append(r, x[i:i+d])
	}
	return r
}

func writeGrid(path string, images [][]float32, rows, cols, channels, perRow int) error {
	g, err := picture.Grid(images, rows, cols, channels, perRow)
	if err != nil {
		return err
	}
	return picture.WritePNG(path, g)
}
