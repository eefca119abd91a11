//go:build amd64 && gc && !purego && !noasm

package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkGemmMicroKernel times each assembly micro-kernel alone on packed
// panels that stay in L1/L2: 16 A panels against one B panel, as the loops
// of a product run them. The gap between this and BenchmarkSgemm (bench/)
// is what packing and memory cost; the gap to the FMA peak is the kernel's
// own.
func BenchmarkGemmMicroKernel(b *testing.B) {
	defer func(prev string) { _ = Use(prev) }(Impl())
	for _, t := range gemmTiles {
		if Use(t.isa) != nil {
			continue // this CPU cannot run it
		}
		for _, kc := range []int{128, 256, 384} {
			b.Run(fmt.Sprintf("impl=%s/tile=%s/kc=%d", t.isa, t.name, kc), func(b *testing.B) {
				const panels = 16
				a := alignedFloats(t.mr * kc * panels)
				bp := alignedFloats(t.nr * kc)
				c := make([]float32, t.mr*t.nr)
				b.ReportAllocs()
				for b.Loop() {
					for i := 0; i < panels; i++ {
						t.kernel(kc, a[i*t.mr*kc:], 0, bp, c, t.nr, t.mr, t.nr, 1)
					}
				}
				flops := 2 * float64(t.mr*t.nr*kc*panels) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
