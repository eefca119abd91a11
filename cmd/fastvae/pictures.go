package main

import (
	"fmt"
	"path/filepath"

	"github.com/fastvae/fastvae/internal/picture"
)

// manifoldSize is the side of the 2-D latent manifold picture, in images.
const manifoldSize = 20

// pictures writes the pictures of epoch e into the output directory:
// reconstructions of the first test images, samples, the loss curve and,
// for a 2-D latent space, the manifold and the scatter of test-set means.
// Sampling draws from the model's evaluation stream, so a resumed run must
// (and does) draw the same pictures as an uninterrupted one.
func (t *trainer) pictures(e int) error {
	m, D, rows, cols := t.m, t.cfg.Input, t.test.Rows, t.test.Cols
	out := t.st.Out
	k := min(8, t.test.Len())
	in := t.test.Pixels[:k*D]
	rec := make([]float32, k*D)
	m.Reconstruct(rec, in)
	if err := writeGrid(filepath.Join(out, fmt.Sprintf("reconstruction_%d.png", e)), append(split(in, D), split(rec, D)...), rows, cols, k); err != nil {
		return err
	}
	samples := make([]float32, 64*D)
	m.Sample(samples)
	if err := writeGrid(filepath.Join(out, fmt.Sprintf("sample_%d.png", e)), split(samples, D), rows, cols, 8); err != nil {
		return err
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
	pts := picture.ManifoldPoints(manifoldSize)
	z := make([]float32, 0, 2*len(pts))
	for _, p := range pts {
		z = append(z, p[0], p[1])
	}
	dec := make([]float32, len(pts)*D)
	m.Decode(dec, z)
	if err := writeGrid(filepath.Join(out, fmt.Sprintf("manifold_%d.png", e)), split(dec, D), rows, cols, manifoldSize); err != nil {
		return err
	}
	n := t.test.Len()
	mu, logvar := make([]float32, 2*n), make([]float32, 2*n)
	m.Encode(mu, logvar, t.test.Pixels)
	means := make([][2]float32, n)
	for i := range means {
		means[i] = [2]float32{mu[2*i], mu[2*i+1]}
	}
	return picture.Scatter(filepath.Join(out, fmt.Sprintf("latent_%d.png", e)),
		fmt.Sprintf("Test-set latent means after epoch %d", e), means, t.test.Labels, t.names)
}

// split views x as rows of d values.
func split(x []float32, d int) [][]float32 {
	var r [][]float32
	for i := 0; i+d <= len(x); i += d {
		r = append(r, x[i:i+d])
	}
	return r
}

func writeGrid(path string, images [][]float32, rows, cols, perRow int) error {
	g, err := picture.Grid(images, rows, cols, perRow)
	if err != nil {
		return err
	}
	return picture.WritePNG(path, g)
}
