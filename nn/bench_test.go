package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fastvae/fastvae/kernels"
)

// BenchmarkLinearForward compares the two ways of adding the bias at the
// default model's shapes: GEMM with beta=0 followed by AddBias (what
// Forward does), or rows initialised to the bias and a beta=1 GEMM.
func BenchmarkLinearForward(b *testing.B) {
	prev := kernels.Threads()
	defer kernels.SetThreads(prev)
	kernels.SetThreads(1)
	const n = 128
	for _, s := range []struct{ in, out int }{{784, 400}, {400, 784}, {400, 40}, {20, 400}} {
		r := rand.New(rand.NewPCG(1, 2))
		l := NewLinear(s.in, s.out)
		copy(l.W, randSlice(r, len(l.W)))
		copy(l.B, randSlice(r, len(l.B)))
		x := randSlice(r, n*s.in)
		y := make([]float32, n*s.out)
		flops := 2 * float64(n*s.in*s.out)
		b.Run(fmt.Sprintf("impl=%s/shape=%dx%dx%d/bias=addbias", kernels.Impl(), n, s.in, s.out), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Forward(y, x)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("impl=%s/shape=%dx%dx%d/bias=beta1", kernels.Impl(), n, s.in, s.out), func(b *testing.B) {
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
