package vae

import (
	"math/rand/v2"

	"github.com/fastvae/fastvae/internal/impltest"
	"github.com/fastvae/fastvae/kernels"
)

// impls runs a subtest per kernel implementation this CPU can run.
var impls = impltest.Set{Available: kernels.Available, Impl: kernels.Impl, Use: kernels.Use,
	Threads: kernels.Threads, SetThreads: kernels.SetThreads}

// tinyConfig is small enough for float64 finite differences over every
// parameter, and deep enough to exercise the mirrored decoder.
func tinyConfig(d Decoder) Config {
	return Config{Input: 6, Hidden: []int{5, 4}, Latent: 3, Decoder: d, Sigma: 0.7, Beta: 0.6}
}

// smallConfig is a quick stand-in for the default model in training tests.
func smallConfig(d Decoder) Config {
	return Config{Input: 36, Hidden: []int{24}, Latent: 4, Decoder: d, Sigma: 0.5, Beta: 1}
}

// synthetic returns n examples of d pixels in [0, 1] that lie near one of
// four prototypes (the same for every seed), so that a VAE can learn them.
func synthetic(seed uint64, n, d int) []float32 {
	const protos = 4
	pr := rand.New(rand.NewPCG(uint64(d), 98))
	p := make([]float32, protos*d)
	for i := range p {
		p[i] = pr.Float32()
	}
	r := rand.New(rand.NewPCG(seed, 99))
	x := make([]float32, n*d)
	for i := range n {
		k := r.IntN(protos)
		for j := range d {
			v := p[k*d+j] + 0.1*float32(r.NormFloat64())
			x[i*d+j] = min(max(v, 0), 1)
		}
	}
	return x
}

// snapshot copies every parameter value.
func snapshot(m *Model) [][]float32 {
	var s [][]float32
	for _, p := range m.params {
		s = append(s, append([]float32(nil), p.Value...))
	}
	return s
}
