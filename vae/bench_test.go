package vae

import (
	"fmt"
	"testing"

	"github.com/fastvae/fastvae/internal/cputime"
	"github.com/fastvae/fastvae/kernels"
)

// BenchmarkTrainStep measures a training step of the default model (the
// PyTorch example's) at batch 128 per kernel implementation and thread
// count, in images per second (wall time) and CPU milliseconds per step.
func BenchmarkTrainStep(b *testing.B) {
	defer impls.Keep()()
	const batch = 128
	cfg := DefaultConfig()
	x := synthetic(1, batch, cfg.Input)
	for _, impl := range kernels.Available() {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("impl=%s/threads=%d/batch=%d", impl, threads, batch), func(b *testing.B) {
				m := benchModel(b, impl, threads)
				m.TrainStep(x)
				b.ReportAllocs()
				cpu0 := cputime.Process()
				for b.Loop() {
					m.TrainStep(x)
				}
				cpu := cputime.Process() - cpu0
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
				if cpu > 0 {
					// CPU time of all threads: on a shared machine the
					// per-step work, where wall time includes waiting.
					b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/op")
				}
			})
		}
	}
}

// BenchmarkIWEval measures LogLikelihood on the default model per kernel
// implementation, thread count and number of samples K, in image·samples
// per second and GFLOP/s: 2·321,600 multiply-adds of the decoder per
// sample and 2·329,600 of the encoder per image, the work the GEMMs do
// (the forward pass of a training step is 651,200 per image).
func BenchmarkIWEval(b *testing.B) {
	defer impls.Keep()()
	cfg := DefaultConfig()
	const encMACs, decMACs = 784*400 + 400*40, 20*400 + 400*784
	for _, impl := range kernels.Available() {
		for _, threads := range []int{1, 2} {
			for _, c := range []struct{ k, images int }{{100, 32}, {1000, 4}} {
				b.Run(fmt.Sprintf("impl=%s/threads=%d/K=%d", impl, threads, c.k), func(b *testing.B) {
					if testing.Short() && impl == "generic" && c.k > 100 {
						b.Skip("-short: the scalar code takes seconds")
					}
					m := benchModel(b, impl, threads)
					x := synthetic(1, c.images, cfg.Input)
					scores := make([]Score, c.images)
					o := IWOptions{K: c.k, Seed: 1}
					m.LogLikelihood(scores, x, nil, o)
					b.ReportAllocs()
					cpu0 := cputime.Process()
					for b.Loop() {
						m.LogLikelihood(scores, x, nil, o)
					}
					cpu := cputime.Process() - cpu0
					sec := b.Elapsed().Seconds()
					flops := 2 * float64(c.images) * (encMACs + float64(c.k)*decMACs)
					b.ReportMetric(float64(c.images*c.k*b.N)/sec, "image-samples/s")
					b.ReportMetric(flops*float64(b.N)/sec/1e9, "GFLOP/s")
					if cpu > 0 {
						b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
					}
				})
			}
		}
	}
}

// benchModel makes implementation impl and the thread count active and
// returns the default model of seed 1.
func benchModel(b *testing.B, impl string, threads int) *Model {
	b.Helper()
	if err := kernels.Use(impl); err != nil {
		b.Fatal(err)
	}
	kernels.SetThreads(threads)
	m, err := New(DefaultConfig(), 1)
	if err != nil {
		b.Fatal(err)
	}
	return m
}
