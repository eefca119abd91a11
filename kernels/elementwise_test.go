package kernels

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fastvae/fastvae/internal/impltest"
)

var exhaustive = flag.Bool("exhaustive", false, "check Exp and Sigmoid on all 2^32 float32 inputs (run with -run Exhaustive -v to see the maximum errors)")

// unaryOp is an elementwise kernel with its float64 reference and the error
// bound it guarantees, in ULP of the correctly rounded result.
type unaryOp struct {
	name string
	f    func(dst, src []float32)
	ref  func(x float64) float64
	ulps float64
	// set returns the op's function in a kernel set, to run an
	// implementation without making it the active one.
	set func(ks *kernelSet) func(dst, src []float32)
}

// math.Exp is accurate to under 1 ULP of float64, far below float32's: a fine
// reference here, though not a portable kernel.
var unaryOps = []unaryOp{
	{name: "Exp", f: Exp, ref: math.Exp, ulps: 1,
		set: func(ks *kernelSet) func(dst, src []float32) { return ks.exp }},
	{name: "Sigmoid", f: Sigmoid, ref: func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, ulps: 2,
		set: func(ks *kernelSet) func(dst, src []float32) { return ks.sigmoid }},
}

// specialInputs are the values where Exp and Sigmoid change regime, with
// their float32 neighbours.
func specialInputs() []float32 {
	f := math.Float32frombits
	base := []float32{
		0, f(0x80000000), 1, -1, 0.5, -0.5,
		float32(math.Inf(1)), float32(math.Inf(-1)),
		f(0x7fc00000), f(0xffc00000), f(0x7f800001), f(0xff800001), f(0x7fffffff), // NaNs, signalling too
		math.MaxFloat32, -math.MaxFloat32, 1e30, -1e30,
		f(1), f(0x80000001), f(0x00800000), f(0x80800000), // smallest subnormal and normal
		f(0x42b17217), f(0x42b17218), // last finite e^x, first overflow
		-103.97208, -103.27893, // e^x is half the smallest subnormal; the smallest subnormal
		-87.33655, 87.33655, // e^x and σ(x) reach the smallest normal
		88.72284, -88.72284, 89, -89, 104, -104, 105, -105,
		87, -87, 86.99999, -86.99999, 87.00001, -87.00001, // the assembly's in-range bound
		16.635532, -16.635532, // σ(x) rounds to 1 above about 16.6
		0.0433217, -0.0433217, 0x1p-25, -0x1p-25, // ln2/16, tiny
	}
	var xs []float32
	for _, x := range base {
		xs = append(xs, x, math.Nextafter32(x, float32(math.Inf(1))), math.Nextafter32(x, float32(math.Inf(-1))))
	}
	return xs
}

// sweepInputs returns one float32 in every 2^12 consecutive bit patterns
// (its low bits vary from block to block) and the special inputs.
func sweepInputs() []float32 {
	xs := specialInputs()
	for i := uint32(0); i < 1<<20; i++ {
		xs = append(xs, math.Float32frombits(i<<12|(i*0x9e3779b1)>>20))
	}
	return xs
}

func TestExpSigmoidSweep(t *testing.T) {
	src := sweepInputs()
	impls.Each(t, func(t *testing.T) {
		for _, op := range unaryOps {
			dst := make([]float32, len(src))
			op.f(dst, src)
			worst, at := 0.0, float32(0)
			for i, x := range src {
				if e := ulpDiff(dst[i], op.ref(float64(x))); e > worst || math.IsNaN(e) {
					worst, at = e, x
				}
			}
			assert.LessOrEqual(t, worst, op.ulps, "%s: max error %.3f ULP at x=%g (%#08x)", op.name, worst, at, math.Float32bits(at))
			t.Logf("%s: max error %.3f ULP over %d inputs", op.name, worst, len(src))
		}
	})
}

func TestExpSigmoidSpecialValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	cases := []struct {
		name string
		f    func(dst, src []float32)
		x    float32
		want float32 // NaN: want NaN
	}{
		{"Exp(+Inf)", Exp, inf, inf},
		{"Exp(-Inf)", Exp, -inf, 0},
		{"Exp(NaN)", Exp, nan, nan},
		{"Exp(0)", Exp, 0, 1},
		{"Exp(-0)", Exp, float32(math.Copysign(0, -1)), 1},
		{"Exp(first overflow)", Exp, math.Float32frombits(0x42b17218), inf},
		{"Exp(89)", Exp, 89, inf},
		{"Exp(MaxFloat32)", Exp, math.MaxFloat32, inf},
		{"Exp(-MaxFloat32)", Exp, -math.MaxFloat32, 0},
		{"Exp(-104)", Exp, -104, 0},
		{"Exp(-103.27893)", Exp, -103.27893, math.Float32frombits(1)},
		{"Sigmoid(+Inf)", Sigmoid, inf, 1},
		{"Sigmoid(-Inf)", Sigmoid, -inf, 0},
		{"Sigmoid(NaN)", Sigmoid, nan, nan},
		{"Sigmoid(0)", Sigmoid, 0, 0.5},
		{"Sigmoid(-0)", Sigmoid, float32(math.Copysign(0, -1)), 0.5},
		{"Sigmoid(MaxFloat32)", Sigmoid, math.MaxFloat32, 1},
		{"Sigmoid(-MaxFloat32)", Sigmoid, -math.MaxFloat32, 0},
		{"Sigmoid(100)", Sigmoid, 100, 1},
		{"Sigmoid(-100)", Sigmoid, -100, 3.783506e-44},
	}
	impls.Each(t, func(t *testing.T) {
		for _, c := range cases {
			// Alone (the masked tail) and as lane 13 of a full block.
			for _, n := range []int{1, 64} {
				src := make([]float32, n)
				src[n*13/64] = c.x
				dst := make([]float32, n)
				c.f(dst, src)
				got := dst[n*13/64]
				if math.IsNaN(float64(c.want)) {
					assert.True(t, math.IsNaN(float64(got)), "%s n=%d: got %g, want NaN", c.name, n, got)
				} else {
					assert.Equal(t, math.Float32bits(c.want), math.Float32bits(got), "%s n=%d: got %g, want %g", c.name, n, got, c.want)
				}
			}
		}
	})
}

// unaryLengths are the lengths the slice tests try: every length up to 300
// and around 1024 reaches every mix of unrolled blocks, single vectors and
// masked tails. Under -short (the parity matrix, under qemu) every length up
// to 140 still reaches every mix for blocks of up to 64 elements.
func unaryLengths() []int {
	var ns []int
	if testing.Short() {
		for n := 0; n <= 140; n++ {
			ns = append(ns, n)
		}
		return ns
	}
	for n := 0; n <= 300; n++ {
		ns = append(ns, n)
	}
	for n := 1000; n <= 1040; n++ {
		ns = append(ns, n)
	}
	return ns
}

var specials = specialInputs()

// unaryInput returns n inputs, mostly normal(0, scale) with a special value
// now and then.
func unaryInput(rng *rand.Rand, n int, scale float64) []float32 {
	src := make([]float32, n)
	for i := range src {
		if rng.IntN(16) == 0 {
			src[i] = specials[rng.IntN(len(specials))]
		} else {
			src[i] = float32(rng.NormFloat64() * scale)
		}
	}
	return src
}

// floatSteps returns how many float32 values lie between a and b, counting
// one end (0 when they are the same bits, or both NaN).
func floatSteps(a, b float32) int64 {
	if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
		if math.IsNaN(float64(a)) && math.IsNaN(float64(b)) {
			return 0
		}
		return math.MaxInt64
	}
	ord := func(x float32) int64 { // monotonic in x, -0 and +0 adjacent
		b := int64(math.Float32bits(x))
		if b&0x80000000 != 0 {
			return -(b & 0x7fffffff) - 1
		}
		return b
	}
	d := ord(a) - ord(b)
	return max(d, -d)
}

// TestUnaryLengths runs Exp and Sigmoid over every length and offset, with
// guard bands, in place, and against the generic implementation: generic is
// within 0.5 + 2^-15 ULP, so the assembly lies within op.ulps float32 steps
// of it.
func TestUnaryLengths(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, op := range unaryOps {
			for _, n := range unaryLengths() {
				for off := 0; off < 8; off++ {
					g := guards{t: t}
					src := g.in(unaryInput(rng, n, 20), off)
					dst := g.out(n, (off+3)%8)
					op.f(dst, src)
					g.check()
					want := make([]float32, n)
					op.set(&genericKernels)(want, src)
					bad := 0
					for i, x := range src {
						e := ulpDiff(dst[i], op.ref(float64(x)))
						s := floatSteps(dst[i], want[i])
						if (e > op.ulps || s > int64(op.ulps)) && bad < 3 {
							bad++
							assert.Failf(t, "wrong value", "%s n=%d off=%d: [%d] = %g for x=%g: %.3f ULP from the reference, %d steps from generic %g",
								op.name, n, off, i, dst[i], x, e, s, want[i])
						}
					}
					inPlace := slices.Clone(src)
					op.f(inPlace, inPlace)
					for i := range inPlace {
						if math.Float32bits(inPlace[i]) != math.Float32bits(dst[i]) && bad < 3 {
							bad++
							assert.Failf(t, "in place differs", "%s n=%d off=%d: [%d] = %g in place, %g out of place", op.name, n, off, i, inPlace[i], dst[i])
						}
					}
					if bad > 0 {
						return
					}
				}
			}
		}
	})
}

// TestUnaryIndependentOfNeighbours checks that an element's result does not
// depend on the path its block took (a block with one input out of range
// takes the assembly's slow path) or on its position.
func TestUnaryIndependentOfNeighbours(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, op := range unaryOps {
			src := make([]float32, 1024)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * 20)
			}
			for i := 0; i < len(src); i += 37 {
				src[i] = 1000 // forces the slow path for its block
			}
			dst := make([]float32, len(src))
			op.f(dst, src)
			one := make([]float32, 1)
			for i, x := range src {
				op.f(one, src[i:i+1])
				require.Equal(t, math.Float32bits(one[0]), math.Float32bits(dst[i]), "%s(%g): alone %g, in a block %g", op.name, x, one[0], dst[i])
			}
		}
	})
}

// TestReLUs checks ReLU and ReLUBackward over every length and offset,
// with guard bands, bit for bit against their definitions, and in place
// (the output the first input).
func TestReLUs(t *testing.T) {
	cases := []struct {
		name string
		seed uint64
		in   int // inputs
		f    func(dst []float32, in [][]float32)
		want func(in [][]float32, i int) float32
	}{
		{"ReLU", 5, 1, func(dst []float32, in [][]float32) { ReLU(dst, in[0]) },
			func(in [][]float32, i int) float32 {
				if x := in[0][i]; !(x < 0) {
					return x // NaN and -0 pass through, as in reluGeneric
				}
				return 0
			}},
		{"ReLUBackward", 7, 2, func(dx []float32, in [][]float32) { ReLUBackward(dx, in[0], in[1]) },
			func(in [][]float32, i int) float32 {
				if in[1][i] > 0 {
					return in[0][i]
				}
				return 0 // NaN y passes no gradient
			}},
	}
	impls.Each(t, func(t *testing.T) {
		for _, c := range cases {
			rng := rand.New(rand.NewPCG(c.seed, c.seed+1))
			for _, n := range unaryLengths() {
				for off := 0; off < 8; off++ {
					g := guards{t: t}
					in := make([][]float32, c.in)
					for k := range in {
						in[k] = g.in(unaryInput(rng, n, 1), (off+k)%8)
					}
					dst := g.out(n, (off+5)%8)
					c.f(dst, in)
					g.check()
					for i := range dst {
						if want := c.want(in, i); math.Float32bits(want) != math.Float32bits(dst[i]) {
							assert.Failf(t, "wrong value", "%s n=%d off=%d: [%d] = %g, want %g", c.name, n, off, i, dst[i], want)
							return
						}
					}
					c.f(in[0], in)
					assert.Equal(t, impltest.Bits(dst), impltest.Bits(in[0]), "%s n=%d off=%d: in place", c.name, n, off)
				}
			}
		}
	})
}

func TestElementwiseLengthMismatch(t *testing.T) {
	a, b := make([]float32, 3), make([]float32, 4)
	assert.PanicsWithValue(t, "kernels: Exp: len(dst)=3 != len(src)=4", func() { Exp(a, b) })
	assert.PanicsWithValue(t, "kernels: Sigmoid: len(dst)=4 != len(src)=3", func() { Sigmoid(b, a) })
	assert.PanicsWithValue(t, "kernels: ReLU: len(dst)=3 != len(src)=4", func() { ReLU(a, b) })
	assert.PanicsWithValue(t, "kernels: ReLUBackward: len(dx)=3 != len(dy)=4", func() { ReLUBackward(a, b, a) })
	assert.PanicsWithValue(t, "kernels: ReLUBackward: len(dx)=3 != len(y)=4", func() { ReLUBackward(a, a, b) })
}

// TestExhaustive checks Exp and Sigmoid of every implementation this CPU runs
// on all 2^32 inputs, split across the CPUs; each input's reference is
// computed once for all implementations. Opt in with -exhaustive (make
// exhaustive; add -v to see the maximum errors on success).
func TestExhaustive(t *testing.T) {
	if !*exhaustive {
		t.Skip("needs -exhaustive")
	}
	var impls []*kernelSet
	for _, im := range implementations {
		if len(im.missing) == 0 {
			impls = append(impls, im.kernelSet)
		}
	}
	for _, op := range unaryOps {
		type worst struct {
			ulps float64
			x    float32
		}
		const chunk = 1 << 16
		workers := runtime.GOMAXPROCS(0)
		results := make([][]worst, workers) // [worker][impl]
		var wg sync.WaitGroup
		for w := range workers {
			results[w] = make([]worst, len(impls))
			wg.Add(1)
			go func() {
				defer wg.Done()
				src := make([]float32, chunk)
				ref := make([]float64, chunk)
				dst := make([]float32, chunk)
				for c := w; c < 1<<32/chunk; c += workers {
					for i := range src {
						src[i] = math.Float32frombits(uint32(c*chunk + i))
						ref[i] = op.ref(float64(src[i]))
					}
					for k, ks := range impls {
						op.set(ks)(dst, src)
						r := &results[w][k]
						for i, want := range ref {
							if e := ulpDiff(dst[i], want); e > r.ulps || math.IsNaN(e) {
								r.ulps, r.x = e, src[i]
							}
						}
					}
				}
			}()
		}
		wg.Wait()
		for k, ks := range impls {
			var m worst
			for w := range workers {
				if r := results[w][k]; r.ulps > m.ulps || math.IsNaN(r.ulps) {
					m = r
				}
			}
			msg := fmt.Sprintf("%s impl=%s: max error %.4f ULP over all 2^32 inputs, at x=%g (%#08x)", op.name, ks.name, m.ulps, m.x, math.Float32bits(m.x))
			t.Log(msg)
			assert.LessOrEqual(t, m.ulps, op.ulps, msg)
		}
	}
}

// TestGenericGolden pins the bits of the generic Exp and Sigmoid over the
// sweep inputs: they must be the same on every architecture (checked under
// qemu for arm64), so a change to them is a change to every result.
func TestGenericGolden(t *testing.T) {
	src := sweepInputs()
	dst := make([]float32, len(src))
	for _, c := range []struct {
		name string
		f    func(dst, src []float32)
		want uint64
	}{
		{"exp", expGeneric, 0x53f100e12128b5f0},
		{"sigmoid", sigmoidGeneric, 0xc55bddbd2b025451},
	} {
		c.f(dst, src)
		for i, v := range dst {
			if v != v {
				dst[i] = float32(math.NaN()) // any NaN will do
			}
		}
		h := impltest.Hash(dst)
		assert.Equal(t, c.want, h, "%s: hash %#x", c.name, h)
	}
}
