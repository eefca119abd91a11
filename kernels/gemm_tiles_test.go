package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	forEachImpl(t, func(t *testing.T) {
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
								sgemmBlocked(g, tc.transA, tc.transB, m, n, k, tc.alpha, f.a.data, f.a.ld, f.b.data, f.b.ld, tc.beta, c, f.ldc, nil)
								if !bitsEqual(t, want, c, "%v tile %s kc=%d mc=%d nc=%d threads=%d", tc, g.name, g.kc, g.mc, g.nc, threads) {
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

// bitsEqual asserts that got has want's bits, element for element, and
// reports the first difference only.
func bitsEqual(t *testing.T, want, got []float32, msg string, args ...any) bool {
	t.Helper()
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			assert.Failf(t, "bits differ", "%s: element %d: %v, want %v", fmt.Sprintf(msg, args...), i, got[i], want[i])
			return false
		}
	}
	return true
}

// adamFixture is one SgemmAdam call's inputs and its expected outputs,
// computed as Sgemm then AdamStep.
type adamFixture struct {
	transA, transB bool
	m, n, k        int
	a, b           gemmOperand
	param, mom, v  []float32 // initial state
	want           [3][]float32
	step           int
}

const adamLR, adamB1, adamB2, adamEps = 0.01, 0.9, 0.999, 1e-8

func newAdamFixture(rng *rand.Rand, transA, transB bool, m, n, k int) *adamFixture {
	f := &adamFixture{transA: transA, transB: transB, m: m, n: n, k: k, step: 3}
	f.a = newGemmOperand(rng, m, k, transA, 1)
	f.b = newGemmOperand(rng, k, n, transB, 2)
	f.param, f.mom, f.v = make([]float32, m*n), make([]float32, m*n), make([]float32, m*n)
	for i := range f.param {
		f.param[i] = rng.Float32()*2 - 1
		f.mom[i] = (rng.Float32()*2 - 1) * 0.1
		f.v[i] = rng.Float32() * 0.01
	}
	grad := make([]float32, m*n)
	Sgemm(transA, transB, m, n, k, 1, f.a.data, f.a.ld, f.b.data, f.b.ld, 0, grad, n)
	p, mm, v := slices.Clone(f.param), slices.Clone(f.mom), slices.Clone(f.v)
	AdamStep(p, grad, mm, v, adamLR, adamB1, adamB2, adamEps, f.step)
	f.want = [3][]float32{p, mm, v}
	return f
}

// run calls SgemmAdam with config g (nil: SgemmAdam's own choice) on
// guarded copies of the state, checks the guards and returns the state.
func (f *adamFixture) run(t *testing.T, g *gemmConfig) [3][]float32 {
	t.Helper()
	var out [3][]float32
	var checks []func()
	for i, s := range [][]float32{f.param, f.mom, f.v} {
		var check func()
		out[i], check = guarded(t, len(s), i)
		copy(out[i], s)
		checks = append(checks, check)
	}
	if g == nil {
		SgemmAdam(f.transA, f.transB, f.m, f.n, f.k, f.a.data, f.a.ld, f.b.data, f.b.ld, out[0], out[1], out[2], adamLR, adamB1, adamB2, adamEps, f.step)
	} else {
		u := adamUpdate{param: out[0], m: out[1], v: out[2], h: newAdamHyper(adamLR, adamB1, adamB2, adamEps, f.step)}
		sgemmAdam(g, f.transA, f.transB, f.m, f.n, f.k, f.a.data, f.a.ld, f.b.data, f.b.ld, &u)
	}
	for _, check := range checks {
		check()
	}
	return out
}

// TestSgemmAdam: SgemmAdam updates the parameters and moments exactly as
// Sgemm followed by AdamStep, with every tile and blocking of every
// implementation, on 1, 2, 3 and 8 threads: in both weight-gradient layouts
// (TN, as dyᵀ·x, and NN), with partial tiles, with n narrow enough for A to
// be read in place, and with k deep enough for partial sums to pass through
// scratch memory.
func TestSgemmAdam(t *testing.T) {
	defer SetThreads(Threads())
	rng := rand.New(rand.NewPCG(9, 10))
	shapes := [][3]int{{37, 53, 128}, {400, 20, 64}, {29, 90, 700}, {40, 400, 128}}
	if testing.Short() {
		shapes = shapes[:2]
	}
	forEachImpl(t, func(t *testing.T) {
		for _, transA := range []bool{true, false} {
			for _, sh := range shapes {
				f := newAdamFixture(rng, transA, false, sh[0], sh[1], sh[2])
				name := fmt.Sprintf("%s/m=%d/n=%d/k=%d", layoutName(transA, false), sh[0], sh[1], sh[2])
				SetThreads(1)
				got := f.run(t, nil)
				for i, what := range []string{"param", "m", "v"} {
					if !bitsEqual(t, f.want[i], got[i], "%s: %s", name, what) {
						return
					}
				}
				for _, g0 := range kernels().gemm {
					for _, g := range blockings(g0) {
						for _, threads := range []int{1, 2, 3, 8} {
							SetThreads(threads)
							got := f.run(t, g)
							for i, what := range []string{"param", "m", "v"} {
								if !bitsEqual(t, f.want[i], got[i], "%s tile %s kc=%d threads=%d: %s", name, g.name, g.kc, threads, what) {
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

func TestSgemmAdamPanics(t *testing.T) {
	a, b := make([]float32, 6), make([]float32, 6)
	p := make([]float32, 4)
	assert.PanicsWithValue(t, "kernels: SgemmAdam: len(vel)=3, want m·n=2·2", func() {
		SgemmAdam(false, false, 2, 2, 3, a, 3, b, 2, p, p, p[:3], 1e-3, 0.9, 0.999, 1e-8, 1)
	})
	assert.PanicsWithValue(t, "kernels: SgemmAdam: step=0 < 1", func() {
		SgemmAdam(false, false, 2, 2, 3, a, 3, b, 2, p, p, p, 1e-3, 0.9, 0.999, 1e-8, 0)
	})
	assert.PanicsWithValue(t, "kernels: SgemmAdam: len(a)=6 too short for 2×4 with lda=4 (need 8)", func() {
		SgemmAdam(false, false, 2, 2, 4, a, 4, b, 2, p, p, p, 1e-3, 0.9, 0.999, 1e-8, 1)
	})
	require.NotPanics(t, func() { SgemmAdam(false, false, 0, 2, 3, a, 3, b, 2, nil, nil, nil, 1e-3, 0.9, 0.999, 1e-8, 1) })
}
