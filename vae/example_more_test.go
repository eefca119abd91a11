package vae_test

import (
	"fmt"

	"github.com/fastvae/fastvae/vae"
)

// ExampleModel_TrainStep builds a model, takes a few training steps on one
// batch and draws decodings of z ~ N(0, I).
func ExampleModel_TrainStep() {
	cfg := vae.DefaultConfig()
	cfg.Input, cfg.Hidden, cfg.Latent = 4, []int{3}, 2
	m, err := vae.New(cfg, 1)
	if err != nil {
		panic(err)
	}
	x := []float32{ // a batch of two examples, row by row, in [0, 1]
		0, 1, 1, 0,
		1, 0, 0, 1,
	}
	first := m.TrainStep(x)
	var last vae.Stats
	for range 50 {
		last = m.TrainStep(x)
	}
	l0, _, _ := first.PerExample()
	l1, _, _ := last.PerExample()
	fmt.Println("examples a step:", last.N, "loss fell:", l1 < l0)

	samples := make([]float32, 3*cfg.Input) // three decodings, Bernoulli means
	m.Sample(samples)
	inUnit := true
	for _, p := range samples {
		inUnit = inUnit && p >= 0 && p <= 1
	}
	fmt.Println("samples in [0, 1]:", inUnit)
	// Output:
	// examples a step: 2 loss fell: true
	// samples in [0, 1]: true
}

// ExampleLoad reads a checkpoint (here one the tests keep) and encodes an
// input with it.
func ExampleLoad() {
	m, meta, err := vae.Load("testdata/tiny.safetensors")
	if err != nil {
		fmt.Println(err) // one line naming the file and what is wrong
		return
	}
	cfg := m.Config()
	x := make([]float32, cfg.Input)
	mu, logvar := make([]float32, cfg.Latent), make([]float32, cfg.Latent)
	m.Encode(mu, logvar, x)
	fmt.Println(cfg, "metadata keys:", len(meta) > 0, "latent means:", len(mu))
	// Output:
	// 6-5-4-3 bernoulli beta=0.6 metadata keys: true latent means: 3
}
