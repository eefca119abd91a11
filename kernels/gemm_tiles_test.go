package kernels

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fastvae/fastvae/internal/impltest"
)

// blockings returns g with its own blocking and with blockings that cut
// every dimension of the shapes below into several blocks, k into uneven
// depths too.
func blockings(g *gemmConfig) []*gemmConfig {
	out := []*gemmConfig{g}
	for _, kc := range []int{3, 64} {
		b := *g
		b.kc, b.mc, b.nc = kc, 2*g.mr, 2*g.nr
		out = append(out, &b)
	}
	return out
}

// TestSgemmTilesBitIdentical: every tile of an implementation, with its own
// blocking or much smaller ones, on any number of threads, gives the bits of
// Sgemm: each element is one chain over k whatever cuts the product.
func TestSgemmTilesBitIdentical(t *testing.T) {
	defer SetThreads(Threads())
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := [][3]int{{37, 53, 301}, {13, 90, 9}, {128, 40, 200}}
	if testing.Short() {
		shapes = shapes[:2]
	}
	impls.Each(t, func(t *testing.T) {
		for _, l := range gemmLayouts {
			for _, sh := range shapes {
				m, n, k := sh[0], sh[1], sh[2]
				for _, ab := range [][2]float32{{1, 0}, {-2, 0.5}, {1, 1}} {
					tc := gemmCase{transA: l.transA, transB: l.transB, m: m, n: n, k: k, alpha: ab[0], beta: ab[1], pad: 3}
					f := newGemmFixture(rng, tc)
					SetThreads(1)
					want := f.run()
					for _, g0 := range kernels().gemm {
						for _, g := range blockings(g0) {
							for _, threads := range []int{1, 2, 3, 8} {
								SetThreads(threads)
								c := slices.Clone(f.c0)
								sgemmBlocked(g, tc.transA, tc.transB, m, n, k, tc.alpha, f.a.data, f.a.ld, f.b.data, f.b.ld, tc.beta, c, f.ldc)
								if !impltest.BitsEqual(t, want, c, "%v tile %s kc=%d mc=%d nc=%d threads=%d", tc, g.name, g.kc, g.mc, g.nc, threads) ||
									!f.inputsUnchanged(t) {
									return
								}
							}
						}
					}
				}
			}
		}
	})
}
