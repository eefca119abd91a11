package vae_test

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/fastvae/fastvae/nn"
	"github.com/fastvae/fastvae/vae"
)

// Example trains a small model for an epoch, saves a checkpoint with the
// trainer's own state in its metadata, and resumes from it.
func Example() {
	cfg := vae.DefaultConfig()
	cfg.Input, cfg.Hidden, cfg.Latent = 16, []int{8}, 2
	const seed, batch, n = 1, 32, 100
	m, err := vae.New(cfg, seed)
	if err != nil {
		panic(err)
	}
	m.Optimizer().LR = 1e-3

	data := make([]float32, n*cfg.Input) // pixels in [0, 1]
	for i := range data {
		data[i] = float32(i%7) / 6
	}
	// The trainer's shuffling has a stream of its own.
	shuffleSrc := nn.NewSource(seed, nn.StreamShuffle)
	order := rand.New(shuffleSrc).Perm(n)
	x := make([]float32, batch*cfg.Input)
	var epoch vae.Stats
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n) // the last batch is smaller: still no allocation
		for i, k := range order[lo:hi] {
			copy(x[i*cfg.Input:(i+1)*cfg.Input], data[k*cfg.Input:(k+1)*cfg.Input])
		}
		epoch.Add(m.TrainStep(x[:(hi-lo)*cfg.Input]))
	}
	loss, _, _ := epoch.PerExample() // what the example prints as "Average loss"
	fmt.Println("examples:", epoch.N, "finite loss:", !math.IsNaN(loss) && !math.IsInf(loss, 0))

	dir, _ := os.MkdirTemp("", "fastvae")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "checkpoint.safetensors")
	// Metadata values are JSON strings: encode binary state as base64.
	state, _ := shuffleSrc.MarshalBinary()
	meta := map[string]string{"epoch": "1", "rng.shuffle": base64.StdEncoding.EncodeToString(state)}
	if err := m.Save(path, meta); err != nil {
		panic(err)
	}
	resumed, meta, err := vae.Load(path)
	if err != nil {
		panic(err)
	}
	state, _ = base64.StdEncoding.DecodeString(meta["rng.shuffle"])
	if err := shuffleSrc.UnmarshalBinary(state); err != nil {
		panic(err)
	}
	fmt.Println(resumed.Config(), "epoch", meta["epoch"], "steps", resumed.Optimizer().Steps)
	// Output:
	// examples: 100 finite loss: true
	// 16-8-2 bernoulli beta=1 epoch 1 steps 4
}
