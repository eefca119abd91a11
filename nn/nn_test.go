package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fastvae/fastvae/internal/impltest"
	"github.com/fastvae/fastvae/kernels"
)

// impls runs a subtest per kernel implementation this CPU can run.
var impls = impltest.Set{Available: kernels.Available, Impl: kernels.Impl, Use: kernels.Use,
	Threads: kernels.Threads, SetThreads: kernels.SetThreads}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(2*r.Float64() - 1)
	}
	return s
}

// TestLinear checks forward and backward against float64 loops. The GEMMs
// sum at most 33 products of numbers below 1 in magnitude, so float32
// results are within 1e-5 of the float64 ones.
func TestLinear(t *testing.T) {
	const tol = 1e-5
	cases := []struct{ n, in, out int }{
		{1, 1, 1}, {3, 7, 5}, {8, 17, 9}, {33, 16, 31}, {0, 4, 3},
	}
	impls.Each(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(fmt.Sprintf("n=%d/in=%d/out=%d", c.n, c.in, c.out), func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, uint64(c.n*1000+c.in*10+c.out)))
				l := NewLinear(c.in, c.out)
				copy(l.W, randSlice(r, len(l.W)))
				copy(l.B, randSlice(r, len(l.B)))
				x := randSlice(r, c.n*c.in)
				dy := randSlice(r, c.n*c.out)
				y := make([]float32, c.n*c.out)
				dx := make([]float32, c.n*c.in)
				l.Forward(y, x)
				l.Backward(dx, dy, x)
				for i := 0; i < c.n; i++ {
					for o := 0; o < c.out; o++ {
						want := float64(l.B[o])
						for k := 0; k < c.in; k++ {
							want += float64(x[i*c.in+k]) * float64(l.W[o*c.in+k])
						}
						assert.InDelta(t, want, y[i*c.out+o], tol, "y[%d,%d]", i, o)
					}
					for k := 0; k < c.in; k++ {
						var want float64
						for o := 0; o < c.out; o++ {
							want += float64(dy[i*c.out+o]) * float64(l.W[o*c.in+k])
						}
						assert.InDelta(t, want, dx[i*c.in+k], tol, "dx[%d,%d]", i, k)
					}
				}
				for o := 0; o < c.out; o++ {
					var db float64
					for i := 0; i < c.n; i++ {
						db += float64(dy[i*c.out+o])
					}
					assert.InDelta(t, db, l.DB[o], tol, "db[%d]", o)
					for k := 0; k < c.in; k++ {
						var want float64
						for i := 0; i < c.n; i++ {
							want += float64(dy[i*c.out+o]) * float64(x[i*c.in+k])
						}
						assert.InDelta(t, want, l.DW[o*c.in+k], tol, "dW[%d,%d]", o, k)
					}
				}
				// dx == nil skips the input gradient but still sets dW and db.
				dw := append([]float32(nil), l.DW...)
				clear(l.DW)
				l.Backward(nil, dy, x)
				assert.Equal(t, dw, l.DW)
			})
		}
	})
}

func TestLinearPanicsOnBadShapes(t *testing.T) {
	l := NewLinear(3, 2)
	assert.PanicsWithValue(t, "nn: Linear.Forward: len(x)=4 is not a multiple of In=3", func() { l.Forward(make([]float32, 2), make([]float32, 4)) })
	assert.PanicsWithValue(t, "nn: Linear.Forward: len(y)=3, want 2 rows × Out=2", func() { l.Forward(make([]float32, 3), make([]float32, 6)) })
	assert.PanicsWithValue(t, "nn: Linear.Backward: len(dx)=5 != len(x)=6", func() { l.Backward(make([]float32, 5), make([]float32, 4), make([]float32, 6)) })
}

func TestLinearParams(t *testing.T) {
	l := NewLinear(3, 2)
	ps := l.Params("fc1")
	require.Len(t, ps, 2)
	assert.Equal(t, "fc1.weight", ps[0].Name)
	assert.Equal(t, []int{2, 3}, ps[0].Shape)
	assert.Equal(t, "fc1.bias", ps[1].Name)
	assert.Equal(t, []int{2}, ps[1].Shape)
	ps[0].Value[5] = 7
	ps[1].Grad[1] = 8
	assert.Equal(t, float32(7), l.W[5], "params view the layer")
	assert.Equal(t, float32(8), l.DB[1])
	assert.Panics(t, func() { NewParam("x", []int{2, 2}, 2, make([]float32, 3), make([]float32, 4)) })
}

// TestAdam checks Adam against torch.optim.Adam's update written out in
// float64 (bias-corrected step size, eps added to the corrected √v) over
// several steps; float32 rounding keeps parameters within 1e-6.
func TestAdam(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(2, 3))
		l := NewLinear(5, 3)
		copy(l.W, randSlice(r, len(l.W)))
		ps := l.Params("fc")
		a := NewAdam(ps)
		assert.Equal(t, float32(1e-3), a.LR)
		assert.Equal(t, float32(0.9), a.Beta1)
		assert.Equal(t, float32(0.999), a.Beta2)
		assert.Equal(t, float32(1e-8), a.Eps)

		type ref struct{ p, m, v []float64 }
		refs := make([]ref, len(ps))
		for i, p := range ps {
			refs[i] = ref{make([]float64, len(p.Value)), make([]float64, len(p.Value)), make([]float64, len(p.Value))}
			for j, v := range p.Value {
				refs[i].p[j] = float64(v)
			}
		}
		for step := 1; step <= 5; step++ {
			for i, p := range ps {
				copy(p.Grad, randSlice(r, len(p.Grad)))
				for j, g32 := range p.Grad {
					g := float64(g32)
					rf := refs[i]
					rf.m[j] = 0.9*rf.m[j] + 0.1*g
					rf.v[j] = 0.999*rf.v[j] + 0.001*g*g
					bc1 := 1 - math.Pow(0.9, float64(step))
					bc2 := 1 - math.Pow(0.999, float64(step))
					rf.p[j] -= 1e-3 / bc1 * rf.m[j] / (math.Sqrt(rf.v[j])/math.Sqrt(bc2) + 1e-8)
				}
			}
			a.Step()
			assert.Equal(t, step, a.Steps)
		}
		for i, p := range ps {
			for j, v := range p.Value {
				assert.InDelta(t, refs[i].p[j], v, 1e-6, "%s[%d]", p.Name, j)
			}
		}
	})
}

// TestBackwardUpdate: BackwardUpdate leaves a layer with the bits of
// Backward followed by Adam's Step, dx included, over several steps.
func TestBackwardUpdate(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(4, 5))
		const n, in, out = 37, 50, 29
		fused, plain := NewLinear(in, out), NewLinear(in, out)
		w0 := randSlice(r, in*out)
		copy(fused.W, w0)
		copy(plain.W, w0)
		optF, optP := NewAdam(fused.Params("fc")), NewAdam(plain.Params("fc"))
		dxF, dxP := make([]float32, n*in), make([]float32, n*in)
		for range 3 {
			x, dy := randSlice(r, n*in), randSlice(r, n*out)
			optF.Begin()
			fused.BackwardUpdate(dxF, dy, x, optF, 0, 1)
			plain.Backward(dxP, dy, x)
			optP.Step()
			require.Equal(t, dxP, dxF, "dx")
			require.Equal(t, plain.W, fused.W, "weights")
			require.Equal(t, plain.B, fused.B, "biases")
			require.Equal(t, optP.M, optF.M, "first moments")
			require.Equal(t, optP.V, optF.V, "second moments")
		}
	})
}

func TestInitUniform(t *testing.T) {
	l := NewLinear(400, 300)
	ps := l.Params("fc")
	r := rand.New(NewSource(1, StreamInit))
	for _, p := range ps {
		InitUniform(p, r)
	}
	bound := float32(1 / math.Sqrt(400))
	var sum, sq float64
	for _, v := range l.W {
		require.True(t, v >= -bound && v < bound, "%v outside ±%v", v, bound)
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(l.W))
	b := float64(bound)
	// Uniform(−b, b): mean 0, variance b²/3; 120000 draws put the sample
	// mean within 5 standard errors of 0 and the variance within 2%.
	assert.InDelta(t, 0, sum/n, 5*b/math.Sqrt(3*n))
	assert.InEpsilon(t, b*b/3, sq/n, 0.02)
	for _, v := range l.B {
		assert.True(t, v >= -bound && v < bound)
	}
	assert.NotEqual(t, l.B[0], l.B[1])
}

// TestStreams checks that streams are reproducible from the seed, differ
// from one another and from other seeds, and survive a marshal round trip.
func TestStreams(t *testing.T) {
	draw := func(s *rand.ChaCha8) [4]uint64 {
		return [4]uint64{s.Uint64(), s.Uint64(), s.Uint64(), s.Uint64()}
	}
	streams := []Stream{StreamInit, StreamShuffle, StreamEps, StreamEval, StreamData, StreamIW}
	seen := map[[4]uint64]string{}
	for _, seed := range []uint64{0, 1, 2} {
		for _, st := range streams {
			a := draw(NewSource(seed, st))
			assert.Equal(t, a, draw(NewSource(seed, st)))
			name := fmt.Sprintf("seed %d stream %d", seed, st)
			if prev, dup := seen[a]; dup {
				t.Errorf("%s repeats %s", name, prev)
			}
			seen[a] = name
		}
	}
	// Generators of one stream's items and parts differ from one another
	// and from the other streams'.
	for i := uint64(0); i < 3; i++ {
		for j := uint64(0); j < 3; j++ {
			if i == 0 && j == 0 {
				continue // the stream's own generator, seen above
			}
			a := draw(rand.NewChaCha8(Key(1, StreamIW, i, j)))
			name := fmt.Sprintf("seed 1 stream IW generator (%d, %d)", i, j)
			if prev, dup := seen[a]; dup {
				t.Errorf("%s repeats %s", name, prev)
			}
			seen[a] = name
		}
	}
	assert.Panics(t, func() { Key(1, StreamIW, 0, 1<<32) })
	src := NewSource(1, StreamEps)
	src.Uint64()
	state, err := src.MarshalBinary()
	require.NoError(t, err)
	want := draw(src)
	other := NewSource(9, StreamInit)
	require.NoError(t, other.UnmarshalBinary(state))
	assert.Equal(t, want, draw(other))
}

// TestNormalGolden pins the first samples of the eps stream for seed 1: the
// streams are part of what a checkpoint means, and this value must be the
// same on every architecture.
func TestNormalGolden(t *testing.T) {
	r := rand.New(NewSource(1, StreamEps))
	dst := make([]float32, 1001)
	Normal(dst, r)
	var h uint64 = 14695981039346656037
	for _, v := range dst {
		h ^= uint64(math.Float32bits(v))
		h *= 1099511628211
	}
	assert.Equal(t, uint64(0xf285568f455ba025), h, "FNV hash of Normal's first 1001 samples changed")
	first := make([]uint32, 4)
	for i, v := range dst[:4] {
		first[i] = math.Float32bits(v)
	}
	assert.Equal(t, []uint32{0x3ba9d5e0, 0xbfd84854, 0x3f741198, 0xbfe847db}, first)
}

// TestNormalMoments checks mean, variance and a tail frequency.
func TestNormalMoments(t *testing.T) {
	r := rand.New(NewSource(7, StreamEval))
	const n = 200000
	dst := make([]float32, n)
	Normal(dst, r)
	var sum, sq float64
	tail := 0
	for _, v := range dst {
		x := float64(v)
		sum += x
		sq += x * x
		if math.Abs(x) > 2 {
			tail++
		}
	}
	se := 1 / math.Sqrt(n)
	assert.InDelta(t, 0, sum/n, 5*se)
	assert.InDelta(t, 1, sq/n, 5*math.Sqrt2*se)
	// P(|Z| > 2) = 0.0455; binomial standard error ≈ 0.00047.
	assert.InDelta(t, 0.0455, float64(tail)/n, 0.0025)

	// Odd lengths drop the spare value: the state afterwards depends only on
	// the count drawn, so two draws of 3 equal one draw of 3 after 3.
	a, b := rand.New(NewSource(3, StreamEps)), rand.New(NewSource(3, StreamEps))
	x3, y3 := make([]float32, 3), make([]float32, 3)
	Normal(x3, a)
	Normal(y3, b)
	assert.Equal(t, x3, y3)
	Normal(x3, a)
	Normal(y3, b)
	assert.Equal(t, x3, y3)
}
