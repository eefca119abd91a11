package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fastvae/fastvae/kernels"
)

// BenchmarkLinearForward compares the two ways of adding the bias at the
// default model's shapes, per implementation on one thread: GEMM with
// beta=0 followed by AddBias (variant=addbias, what Forward does), or rows
// initialised to the bias and a beta=1 GEMM (variant=beta1). The shape is
// named as BenchmarkSgemm names it, m×n×k of y[m×n] = x·Wᵀ (layout NT), so
// that the rows line up with the plain GEMM's.
func BenchmarkLinearForward(b *testing.B) {
	defer impls.Keep()()
	const n, threads = 128, 1
	kernels.SetThreads(threads)
	for _, impl := range kernels.Available() {
		if err := kernels.Use(impl); err != nil {
			b.Fatal(err)
		}
		for _, s := range []struct{ in, out int }{{784, 400}, {400, 784}, {400, 40}, {20, 400}} {
			r := rand.New(rand.NewPCG(1, 2))
			l := NewLinear(s.in, s.out)
			copy(l.W, randSlice(r, len(l.W)))
			copy(l.B, randSlice(r, len(l.B)))
			x := randSlice(r, n*s.in)
			y := make([]float32, n*s.out)
			flops := 2 * float64(n*s.in*s.out)
			name := fmt.Sprintf("impl=%s/threads=%d/shape=%dx%dx%d/layout=NT", impl, threads, n, s.out, s.in)
			b.Run(name+"/variant=addbias", func(b *testing.B) {
				l.Forward(y, x) // size the GEMM's packing buffers before counting allocations
				b.ReportAllocs()
				for b.Loop() {
					l.Forward(y, x)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(name+"/variant=beta1", func(b *testing.B) {
				kernels.Sgemm(false, true, n, s.out, s.in, 1, x, s.in, l.W, s.in, 1, y, s.out)
				b.ReportAllocs()
				for b.Loop() {
					for i := range n {
						copy(y[i*s.out:(i+1)*s.out], l.B)
					}
					kernels.Sgemm(false, true, n, s.out, s.in, 1, x, s.in, l.W, s.in, 1, y, s.out)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
