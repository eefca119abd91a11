//go:build amd64 && gc && !purego && !noasm

package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkGemmMicroKernel times each assembly micro-kernel alone on packed
// panels that stay in L1/L2: 16 A panels against one B panel, as the ir
// loop runs them. The gap between this and BenchmarkSgemm (bench/) is what
// packing and memory cost; the gap to the FMA peak is the kernel's own.
func BenchmarkGemmMicroKernel(b *testing.B) {
	defer func(prev string) { _ = Use(prev) }(Impl())
	for _, k := range []struct {
		impl, tile string
		g          *gemmConfig
	}{
		{"avx512", "12x32", &avx512Gemm}, {"avx512", "12x24", &avx512Gemm12x24}, {"avx512", "8x40", &avx512Gemm8x40},
		{"avx2", "6x16", &avx2Gemm}, {"avx2", "4x24", &avx2Gemm4x24},
	} {
		if Use(k.impl) != nil {
			continue // this CPU cannot run it
		}
		g := k.g
		for _, kc := range []int{192, 384} {
			b.Run(fmt.Sprintf("impl=%s/tile=%s/kc=%d", k.impl, k.tile, kc), func(b *testing.B) {
				const panels = 16
				a := alignedFloats(g.mr * kc * panels)
				bp := alignedFloats(g.nr * kc)
				c := make([]float32, g.mr*g.nr)
				b.ReportAllocs()
				for b.Loop() {
					for i := 0; i < panels; i++ {
						g.kernel(kc, a[i*g.mr*kc:], 0, bp, c, g.nr, g.mr, g.nr, 1, 1)
					}
				}
				flops := 2 * float64(g.mr*g.nr*kc*panels) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
