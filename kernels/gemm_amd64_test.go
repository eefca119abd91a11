//go:build amd64 && gc && !purego && !noasm

package kernels

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGemmConfigs: each instruction set gets every tile of its own (the
// avx512 set the AVX2 ones too), FASTVAE_GEMM narrows a set to the tile it
// names when the set has it, and a name of no tile is reported.
func TestGemmConfigs(t *testing.T) {
	names := func(cs []*gemmConfig) []string {
		var s []string
		for _, c := range cs {
			s = append(s, c.name)
		}
		return s
	}
	_, l2, _ := cacheSizes()
	for _, class := range []fmaClass{fmaYMM, fmaZMMHalves, fmaZMMFull} {
		all := gemmConfigs(class, "", "avx512", "avx2")
		require.Len(t, all, len(gemmTiles), "%v", class)
		for _, c := range all {
			assert.Positive(t, c.rate, "%v %s", class, c.name)
			assert.LessOrEqual(t, c.kc*c.nr*4, max(l2/4, 256*c.nr*4), "%v %s: B panel beyond a quarter of L2", class, c.name)
			assert.LessOrEqual(t, c.mc*c.kc*4, max(l2/2, c.mr*c.kc*4), "%v %s: A block beyond half of L2", class, c.name)
			assert.Zero(t, c.mc%c.mr, "%v %s", class, c.name)
			assert.Zero(t, c.nc%c.nr, "%v %s", class, c.name)
		}
		assert.Equal(t, []string{"8x48"}, names(gemmConfigs(class, "8x48", "avx512", "avx2")))
		assert.Equal(t, []string{"6x16", "4x24"}, names(gemmConfigs(class, "8x48", "avx2")), "not an AVX2 tile: ignored there")
	}
	assert.NoError(t, gemmEnvError(""))
	assert.NoError(t, gemmEnvError("5x80"))
	err := gemmEnvError("9x9")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "FASTVAE_GEMM=9x9 ignored: no such tile (there are 12x32, ")
}

// TestTileRates: on cores with two 512-bit FMA pipes the full-ZMM tiles
// rank first and the VAE's 400-column products pick 5×80; on Zen 4's
// half-width pipes 8×40 fills 400 columns exactly and wins them.
func TestTileRates(t *testing.T) {
	pick := func(class fmaClass, isas ...string) string {
		return pickGemm(false, true, 128, 400, 784, gemmConfigs(class, "", isas...)).name
	}
	assert.Equal(t, "5x80", pick(fmaZMMFull, "avx512", "avx2"))
	assert.Equal(t, "8x40", pick(fmaZMMHalves, "avx512", "avx2"))
	full := map[string]float64{}
	for _, c := range gemmConfigs(fmaZMMFull, "", "avx512", "avx2") {
		full[c.name] = c.rate
	}
	assert.Greater(t, full["12x32"], full["8x40"])
	assert.Greater(t, full["8x40"], full["6x16"])
}

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
