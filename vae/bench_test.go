package vae

import (
	"fmt"
	"testing"

	"github.com/fastvae/fastvae/kernels"
)

// BenchmarkTrainStep measures a training step of the default model (the
// PyTorch example's) at batch 128 per kernel implementation and thread
// count, in images per second (wall time) and CPU milliseconds per step.
func BenchmarkTrainStep(b *testing.B) {
	prevImpl, prevThreads := kernels.Impl(), kernels.Threads()
	defer func() {
		kernels.Use(prevImpl)
		kernels.SetThreads(prevThreads)
	}()
	const batch = 128
	cfg := DefaultConfig()
	x := synthetic(1, batch, cfg.Input)
	for _, impl := range kernels.Available() {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("impl=%s/threads=%d/batch=%d", impl, threads, batch), func(b *testing.B) {
				if err := kernels.Use(impl); err != nil {
					b.Fatal(err)
				}
				kernels.SetThreads(threads)
				m, err := New(cfg, 1)
				if err != nil {
					b.Fatal(err)
				}
				m.TrainStep(x)
				b.ReportAllocs()
				cpu0 := processCPU()
				for b.Loop() {
					m.TrainStep(x)
				}
				cpu := processCPU() - cpu0
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
