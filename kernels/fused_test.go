package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fastvae/fastvae/internal/impltest"
)

// u32 is float32's unit roundoff: a correctly rounded result is within
// u32·|x| of the exact x.
const u32 = 0x1p-24

// Error bounds the tests assert for every implementation (the generic ones
// compute in float64 and do far better). An output x passes when
// |x − exact| ≤ ulps·ulp(exact) + rel·mag, where mag is the sum of the
// magnitudes of the terms that make up x, the bound of a computation whose
// terms may cancel. Sums pass when within sumRel of the float64 reference,
// plus tinyTerm for every element whose exact term lies below float32's
// normal range (the vector code computes terms in float32, where they
// underflow).
const (
	zULPs, zRel             = 0.5, 2 * u32  // z = mu + eps·s; measured 1.15 u beyond half an ULP
	dmuULPs, dmuRel         = 0.5, u32      // one FMA in the assembly: correctly rounded
	dlogvarULPs, dlogvarRel = 0.5, 4 * u32  // ½dz·eps·s + ½beta·(e^lv − 1); measured 3.0
	dlogitsULPs, dlogitsRel = 0.5, 4 * u32  // scale·(c ∓ sigmoid(−|l|)); measured 2.7
	doutULPs                = 2             // scale·(o − t), two roundings
	termRel                 = 5 * u32       // each KL or BCE term; measured 3.2 and 3.6
	sumRel                  = 1e-6          // the bound stated for every sum (fused.go)
	tinyTerm                = 0x1p-126      // see above
	adamRel                 = 100 * 4 * u32 // 100 steps, see TestAdamStepTrajectory
)

// fusedSizes are the awkward lengths: empty, below,
// at and around one and two vectors and unroll blocks, and a run of 41
// consecutive lengths that ends in every tail.
var fusedSizes = func() []int {
	s := []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 255}
	for n := 1000; n <= 1040; n++ {
		s = append(s, n)
	}
	return s
}()

// fusedOffsets start slices 0, 1 and 3 elements into their buffers, so the
// vector code sees aligned and unaligned data.
var fusedOffsets = []int{0, 1, 3}

// eachFusedCase runs f for every implementation, size of sizes (lengths,
// or the rows×cols of biasShapes) and offset of fusedOffsets, in that
// order, with a generator seeded by seed and guards whose check it runs
// after f: f draws the inputs, takes the arguments from g, calls the kernel
// and checks its results.
func eachFusedCase[S any](t *testing.T, seed uint64, sizes []S, f func(t *testing.T, r *rand.Rand, size S, off int, g *guards)) {
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(seed, seed+1))
		for _, size := range sizes {
			for _, off := range fusedOffsets {
				g := &guards{t: t}
				f(t, r, size, off, g)
				g.check()
			}
		}
	})
}

// errWithin reports whether got is within ulps·ulp(want) + rel·mag of want,
// where NaN matches only NaN and an infinity only itself.
func errWithin(got float32, want, mag, ulps, rel float64) bool {
	g := float64(got)
	switch {
	case math.IsNaN(want) || math.IsNaN(g):
		return math.IsNaN(want) && math.IsNaN(g)
	case math.IsInf(want, 0) || math.IsInf(g, 0):
		return ulpDiff(got, want) <= ulps
	}
	return math.Abs(g-want) <= ulps*ulp32(want)+rel*mag
}

// refSum is a float64 reference sum and the number of its terms below
// float32's normal range.
type refSum struct {
	sum  float64
	tiny int
}

func (s *refSum) add(term float64) {
	s.sum += term
	if term < 0x1p-126 {
		s.tiny++
	}
}

// sumWithin asserts that the sum got is within sumRel of want, plus
// tinyTerm per term below float32's normal range.
func sumWithin(t *testing.T, got float64, want refSum, msg string, args ...any) bool {
	t.Helper()
	margs := append([]any{msg}, args...)
	if math.IsNaN(want.sum) {
		return assert.True(t, math.IsNaN(got), margs...)
	}
	if math.IsInf(want.sum, 0) {
		return assert.Equal(t, want.sum, got, margs...)
	}
	return assert.InDelta(t, want.sum, got, sumRel*math.Abs(want.sum)+float64(want.tiny)*tinyTerm, margs...)
}

// pick returns a random element of vals.
func pick(r *rand.Rand, vals []float32) float32 { return vals[r.IntN(len(vals))] }

func nan32() float32 { return float32(math.NaN()) }

// Float64 references, written from the definitions with the math package.

// refExpm1mx returns e^x − 1 − x, by its series where expm1 − x would cancel.
func refExpm1mx(x float64) float64 {
	if math.Abs(x) < 1e-3 {
		return x * x * (1.0/2 + x*(1.0/6+x*(1.0/24+x/120)))
	}
	return math.Expm1(x) - x
}

func refKLTerm(mu, lv float32) float64 {
	m := float64(mu)
	return (m*m + refExpm1mx(float64(lv))) / 2
}

// refBCE returns the loss term softplus(l) − t·l and sigmoid(l) − t, both
// without cancellation beyond what the data implies, and the magnitude of
// the parts of the latter.
func refBCE(l32, t32 float32) (loss, grad, mag float64) {
	l, t := float64(l32), float64(t32)
	e := math.Exp(-math.Abs(l))
	q := e / (1 + e)
	c, d := -t, q
	if !math.Signbit(l) {
		c, d = 1-t, -q
	}
	return l*c + math.Log1p(e), c + d, math.Abs(c) + q
}

// klInputs draws mu, logvar and eps: mostly random, logvar across −30..30
// and densely near 0 where e^lv − 1 − lv cancels, with a share of
// adversarial values.
func klInputs(r *rand.Rand, n int) (mu, lv, eps []float32) {
	advMu := []float32{0, float32(math.Copysign(0, -1)), 1e-20, -1e-20, 1, -3, 1e3, -1e4}
	advLv := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-8, -1e-8, 0.5, -0.5, 0.75, -0.75,
		1, -1, 1.5, -1.5, 2, -2, 30, -30, 88, -88, 150, -150, -300}
	mu, lv, eps = make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		mu[i] = float32(2 * r.NormFloat64())
		eps[i] = float32(r.NormFloat64())
		switch r.IntN(8) {
		case 0, 1, 2, 3:
			lv[i] = float32(60*r.Float64() - 30)
		case 4, 5:
			lv[i] = float32(5*r.Float64() - 2)
		case 6:
			lv[i] = float32(1e-3 * r.NormFloat64())
		default:
			lv[i] = pick(r, advLv)
			mu[i] = pick(r, advMu)
		}
	}
	return mu, lv, eps
}

func bceInputs(r *rand.Rand, n int) (logits, target []float32) {
	advL := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-7, 1, -1, 17, -17, 30, -30, 87, -87,
		88, -88, 89, -89, 100, -100, 104, -104, 1e30, -1e30, math.MaxFloat32, -math.MaxFloat32, 0x1p-149, -0x1p-149}
	advT := []float32{0, 1, 0.5, 0.25, 1 - 0x1p-24, 0x1p-24}
	logits, target = make([]float32, n), make([]float32, n)
	for i := range n {
		switch r.IntN(4) {
		case 0:
			logits[i] = pick(r, advL)
		default:
			logits[i] = float32(8 * r.NormFloat64())
		}
		switch r.IntN(3) {
		case 0:
			target[i] = pick(r, advT)
		default:
			target[i] = float32(r.Float64())
		}
	}
	return logits, target
}

// seInputs draws outputs and targets for SquaredError: normal and uniform,
// with a share of adversarial values.
func seInputs(r *rand.Rand, n int) (out, target []float32) {
	adv := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e20, -1e20, 0x1p-149, 1, -1}
	out, target = make([]float32, n), make([]float32, n)
	for i := range n {
		out[i], target[i] = float32(r.NormFloat64()), float32(r.Float64())
		if r.IntN(5) == 0 {
			out[i], target[i] = pick(r, adv), pick(r, adv)
		}
	}
	return out, target
}

func TestReparamKL(t *testing.T) {
	eachFusedCase(t, 1, fusedSizes, func(t *testing.T, r *rand.Rand, n, off int, g *guards) {
		mu0, lv0, eps0 := klInputs(r, n)
		// The sentinel is a NaN: a kernel reading past an input
		// would fold it into the sum.
		mu, lv, eps := g.in(mu0, off), g.in(lv0, off+1), g.in(eps0, off+2)
		z := g.out(n, off)
		kl := ReparamKL(z, mu, lv, eps)
		var want refSum
		for i := range n {
			s := math.Exp(float64(lv[i]) / 2)
			zw := float64(mu[i]) + float64(eps[i])*s
			if !errWithin(z[i], zw, math.Abs(float64(eps[i])*s), zULPs, zRel) {
				assert.Failf(t, "z", "n=%d off=%d i=%d mu=%v lv=%v eps=%v: z=%v want %v", n, off, i, mu[i], lv[i], eps[i], z[i], zw)
			}
			want.add(refKLTerm(mu[i], lv[i]))
		}
		sumWithin(t, kl, want, "n=%d off=%d", n, off)
	})
}

// TestFusedTerms checks every term of the KL and BCE sums alone (n = 1, the
// masked tail of the vector code, and n = 9, a whole vector and a tail)
// against the float64 reference: each term within termRel. As all terms are
// non-negative, a sum of any length is then within termRel plus the float64
// rounding of the additions (below n·2^-53), which proves the 1e-6 bound up
// to n = 1e7 and beyond; TestFusedSumsLong checks it directly.
func TestFusedTerms(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(33, 34))
		const n = 4000
		mu, lv, eps := klInputs(r, n)
		l, tg := bceInputs(r, n)
		z := make([]float32, 9)
		for i := range n {
			for _, w := range []int{1, 9} {
				m, v, e := make([]float32, w), make([]float32, w), make([]float32, w)
				m[w-1], v[w-1], e[w-1] = mu[i], lv[i], eps[i]
				if want := refKLTerm(mu[i], lv[i]); want >= 0x1p-126 && want < 1e37 {
					got := ReparamKL(z[:w], m, v, e)
					assert.InDelta(t, want, got, termRel*want, "KL term mu=%v logvar=%v", mu[i], lv[i])
				}
				lg, tt := make([]float32, w), make([]float32, w)
				for k := range w {
					lg[k], tt[k] = 200, 1 // term e^-200: zero in float32
				}
				lg[w-1], tt[w-1] = l[i], tg[i]
				if want, _, _ := refBCE(l[i], tg[i]); want >= 0x1p-126 {
					got := BCEWithLogits(z[:w], lg, tt, 1)
					assert.InDelta(t, want, got, termRel*want+float64(w-1)*1e-86, "BCE term l=%v t=%v", l[i], tg[i])
				}
			}
		}
	})
}

func TestReparamKLSpecial(t *testing.T) {
	inf := float32(math.Inf(1))
	cases := []struct {
		name         string
		mu, lv, eps  float32
		z            float32 // NaN means NaN
		klNaN, klInf bool
	}{
		{"nan mu", nan32(), 0, 1, nan32(), true, false},
		{"nan logvar", 0, nan32(), 1, nan32(), true, false},
		{"nan eps", 0, 0, nan32(), nan32(), false, false},
		{"exp overflows", 0, 200, 1, inf, false, true},
		{"exp underflows", 2, -400, 1, 2, false, false},
		{"lv=-inf", 2, float32(math.Inf(-1)), 1, 2, false, true},
		{"lv=+inf", 2, inf, 1, inf, false, true},
		{"lv=150", 2, 150, -1, float32(2 - math.Exp(75)), false, false},
	}
	impls.Each(t, func(t *testing.T) {
		for _, c := range cases {
			// Put the special element in every lane position, vector and tail.
			for _, n := range []int{1, 9, 37} {
				for at := range n {
					mu, lv, eps := make([]float32, n), make([]float32, n), make([]float32, n)
					mu[at], lv[at], eps[at] = c.mu, c.lv, c.eps
					z := make([]float32, n)
					kl := ReparamKL(z, mu, lv, eps)
					if math.IsNaN(float64(c.z)) {
						assert.True(t, math.IsNaN(float64(z[at])), "%s n=%d at=%d: z=%v", c.name, n, at, z[at])
					} else {
						assert.Equal(t, c.z, z[at], "%s n=%d at=%d", c.name, n, at)
					}
					switch {
					case c.klNaN:
						assert.True(t, math.IsNaN(kl), "%s n=%d at=%d: kl=%v", c.name, n, at, kl)
					case c.klInf:
						assert.True(t, math.IsInf(kl, 1), "%s n=%d at=%d: kl=%v", c.name, n, at, kl)
					default:
						assert.False(t, math.IsNaN(kl) || math.IsInf(kl, 0), "%s n=%d at=%d: kl=%v", c.name, n, at, kl)
					}
				}
			}
		}
	})
}

// TestReparamKLAlias checks the documented aliasing: z may be mu, logvar or
// eps.
func TestReparamKLAlias(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, n := range []int{7, 33, 1031} {
			mu, lv, eps := klInputs(r, n)
			z := make([]float32, n)
			kl := ReparamKL(z, mu, lv, eps)
			for which, name := range []string{"mu", "logvar", "eps"} {
				in := [][]float32{slices.Clone(mu), slices.Clone(lv), slices.Clone(eps)}
				got := ReparamKL(in[which], in[0], in[1], in[2])
				assert.Equal(t, kl, got, "z=%s n=%d", name, n)
				assert.Equal(t, impltest.Bits(z), impltest.Bits(in[which]), "z=%s n=%d", name, n)
			}
		}
	})
}

func TestReparamKLBackward(t *testing.T) {
	eachFusedCase(t, 5, fusedSizes, func(t *testing.T, r *rand.Rand, n, off int, g *guards) {
		mu0, lv0, eps0 := klInputs(r, n)
		dz0 := make([]float32, n)
		for i := range dz0 {
			dz0[i] = float32(r.NormFloat64())
		}
		beta := float32(r.Float64() * 2)
		mu, lv, eps, dz := g.in(mu0, off), g.in(lv0, off+1), g.in(eps0, off+2), g.in(dz0, off+3)
		dmu, dlv := g.out(n, off), g.out(n, off+5)
		ReparamKLBackward(dmu, dlv, dz, mu, lv, eps, beta)
		for i := range n {
			d, b, m := float64(dz[i]), float64(beta), float64(mu[i])
			if want := d + b*m; !errWithin(dmu[i], want, math.Abs(d)+math.Abs(b*m), dmuULPs, dmuRel) {
				assert.Failf(t, "dmu", "n=%d i=%d: dmu=%v want %v", n, i, dmu[i], want)
			}
			s := math.Exp(float64(lv[i]) / 2)
			em1 := refExpm1mx(float64(lv[i])) + float64(lv[i])
			a, c := d*float64(eps[i])*s/2, b*em1/2
			mag := math.Abs(a) + b*(s*s+1)/2
			if want := a + c; !errWithin(dlv[i], want, mag, dlogvarULPs, dlogvarRel) {
				assert.Failf(t, "dlogvar", "n=%d i=%d dz=%v lv=%v eps=%v beta=%v: dlogvar=%v want %v", n, i, dz[i], lv[i], eps[i], beta, dlv[i], want)
			}
		}
	})
}

// TestReparamKLBackwardAlias checks that each output may be any one input.
func TestReparamKLBackwardAlias(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		n := 1029
		mu, lv, eps := klInputs(r, n)
		dz := make([]float32, n)
		for i := range dz {
			dz[i] = float32(r.NormFloat64())
		}
		dmu, dlv := make([]float32, n), make([]float32, n)
		ReparamKLBackward(dmu, dlv, dz, mu, lv, eps, 0.7)
		names := []string{"dz", "mu", "logvar", "eps"}
		for a := range names {
			for b := range names {
				if a == b {
					continue
				}
				in := [][]float32{slices.Clone(dz), slices.Clone(mu), slices.Clone(lv), slices.Clone(eps)}
				ReparamKLBackward(in[a], in[b], in[0], in[1], in[2], in[3], 0.7)
				assert.Equal(t, impltest.Bits(dmu), impltest.Bits(in[a]), "dmu=%s dlogvar=%s", names[a], names[b])
				assert.Equal(t, impltest.Bits(dlv), impltest.Bits(in[b]), "dmu=%s dlogvar=%s", names[a], names[b])
			}
		}
	})
}

// TestReparamKLGradient checks ReparamKLBackward against central finite
// differences of L = Σ dz·z + beta·KL computed with ReparamKL itself.
func TestReparamKLGradient(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		const n, beta = 37, 0.8
		mu, lv, eps, dz := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range n {
			mu[i] = float32(r.NormFloat64())
			lv[i] = float32(4*r.Float64() - 3)
			eps[i] = float32(r.NormFloat64())
			dz[i] = float32(r.NormFloat64())
		}
		loss := func() float64 {
			z := make([]float32, n)
			kl := ReparamKL(z, mu, lv, eps)
			var l float64
			for i := range z {
				l += float64(dz[i]) * float64(z[i])
			}
			return l + beta*kl
		}
		dmu, dlv := make([]float32, n), make([]float32, n)
		ReparamKLBackward(dmu, dlv, dz, mu, lv, eps, beta)
		const h = 1.0 / 64 // exact in float32 around these magnitudes
		for i := range n {
			for _, v := range []struct {
				name string
				x    *float32
				grad float32
			}{{"mu", &mu[i], dmu[i]}, {"logvar", &lv[i], dlv[i]}} {
				x0 := *v.x
				*v.x = x0 + h
				up := loss()
				*v.x = x0 - h
				down := loss()
				*v.x = x0
				fd := (up - down) / (2 * h)
				// Truncation h²/6·|f'''| and float32 rounding of z over 2h.
				assert.InDelta(t, fd, float64(v.grad), 1e-3*(1+math.Abs(fd)), "d/d%s[%d]", v.name, i)
			}
		}
	})
}

func TestBCEWithLogits(t *testing.T) {
	eachFusedCase(t, 11, fusedSizes, func(t *testing.T, r *rand.Rand, n, off int, g *guards) {
		l0, t0 := bceInputs(r, n)
		scale := float32(1 + r.Float64())
		logits, target := g.in(l0, off), g.in(t0, off+1)
		dl := g.out(n, off+2)
		got := BCEWithLogits(dl, logits, target, scale)
		var want refSum
		for i := range n {
			loss, grad, mag := refBCE(logits[i], target[i])
			want.add(loss)
			sc := float64(scale)
			// Below float32's normal range e^−|l| is rounded to the
			// subnormal grid before scaling: allow 2·scale steps of it.
			if !errWithin(dl[i], sc*grad, sc*mag, dlogitsULPs, dlogitsRel) && math.Abs(float64(dl[i])-sc*grad) > 2*sc*0x1p-149 {
				assert.Failf(t, "dlogits", "n=%d i=%d l=%v t=%v: dlogits=%v want %v", n, i, logits[i], target[i], dl[i], sc*grad)
			}
		}
		sumWithin(t, got, want, "n=%d off=%d", n, off)
	})
}

func TestBCEWithLogitsSpecial(t *testing.T) {
	cases := []struct {
		name     string
		l, t     float32
		loss, dl float64 // scale 1; NaN means NaN
	}{
		{"nan logit", nan32(), 0.5, math.NaN(), math.NaN()},
		{"nan target", 1, nan32(), math.NaN(), math.NaN()},
		{"max logit t=0", math.MaxFloat32, 0, math.MaxFloat32, 1},
		{"max logit t=1", math.MaxFloat32, 1, 0, 0},
		{"-max logit t=0", -math.MaxFloat32, 0, 0, 0},
		{"-max logit t=1", -math.MaxFloat32, 1, math.MaxFloat32, -1},
		{"1e30 t=0.5", 1e30, 0.5, 0.5e30, 0.5},
		{"-1e30 t=0.5", -1e30, 0.5, 0.5e30, -0.5},
		{"0 t=0", 0, 0, math.Ln2, 0.5},
		{"-0 t=1", float32(math.Copysign(0, -1)), 1, math.Ln2, -0.5},
	}
	impls.Each(t, func(t *testing.T) {
		for _, c := range cases {
			for _, n := range []int{1, 9, 37} {
				for at := range n {
					l, tg := make([]float32, n), make([]float32, n)
					for i := range l {
						l[i], tg[i] = 200, 1 // loss 0 (below float32), gradient 0
					}
					l[at], tg[at] = c.l, c.t
					dl := make([]float32, n)
					loss := BCEWithLogits(dl, l, tg, 1)
					if math.IsNaN(c.loss) {
						assert.True(t, math.IsNaN(loss), "%s n=%d at=%d: loss=%v", c.name, n, at, loss)
					} else {
						assert.InDelta(t, c.loss, loss, 1e-6*c.loss+1e-30, "%s n=%d at=%d", c.name, n, at)
					}
					if math.IsNaN(c.dl) {
						assert.True(t, math.IsNaN(float64(dl[at])), "%s n=%d at=%d: dlogits=%v", c.name, n, at, dl[at])
					} else {
						assert.Equal(t, float32(c.dl), dl[at], "%s n=%d at=%d", c.name, n, at)
					}
				}
			}
		}
	})
}

func TestSquaredError(t *testing.T) {
	eachFusedCase(t, 17, fusedSizes, func(t *testing.T, r *rand.Rand, n, off int, g *guards) {
		o0, t0 := seInputs(r, n)
		scale := float32(r.Float64() + 0.5)
		out, target := g.in(o0, off), g.in(t0, off+1)
		dout := g.out(n, off+2)
		got := SquaredError(dout, out, target, scale)
		var want refSum
		for i := range n {
			d := float64(out[i]) - float64(target[i])
			want.add(d * d / 2)
			if !errWithin(dout[i], float64(scale)*d, 0, doutULPs, 0) {
				assert.Failf(t, "dout", "n=%d i=%d o=%v t=%v: dout=%v want %v", n, i, out[i], target[i], dout[i], float64(scale)*d)
			}
		}
		sumWithin(t, got, want, "n=%d off=%d", n, off)
	})
}

func TestSquaredErrorSpecial(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		for _, n := range []int{1, 9, 37} {
			for at := range n {
				o, tg, d := make([]float32, n), make([]float32, n), make([]float32, n)
				o[at] = nan32()
				assert.True(t, math.IsNaN(SquaredError(d, o, tg, 1)), "n=%d at=%d", n, at)
				assert.True(t, math.IsNaN(float64(d[at])), "n=%d at=%d", n, at)
			}
		}
	})
}

// lossKernels are the kernels that return a loss of x against target and
// write its gradient with respect to x, times scale; inputs draws their
// arguments. Their gradient is checked at x from gradX, with steps of h,
// to within tol.
var lossKernels = []struct {
	name   string
	f      func(dx, x, target []float32, scale float32) float64
	inputs func(r *rand.Rand, n int) (x, target []float32)
	gradX  func(r *rand.Rand) float32
	scale  float32
	h, tol float64
}{
	{"BCEWithLogits", BCEWithLogits, bceInputs,
		func(r *rand.Rand) float32 { return float32(12*r.Float64() - 6) }, 0.25, 1.0 / 256, 1e-4},
	// The squared error is quadratic: central differences are exact up to
	// the rounding of x ± h.
	{"SquaredError", SquaredError, seInputs,
		func(r *rand.Rand) float32 { return float32(r.NormFloat64()) }, 2, 1.0 / 1024, 1e-5},
}

// TestLossAlias checks that the gradient may be written over either input.
func TestLossAlias(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, k := range lossKernels {
			x, target := k.inputs(r, 1033)
			dx := make([]float32, len(x))
			want := k.f(dx, x, target, 0.5)
			for which, name := range []string{"x", "target"} {
				in := [][]float32{slices.Clone(x), slices.Clone(target)}
				assert.Equal(t, want, k.f(in[which], in[0], in[1], 0.5), "%s: gradient over %s", k.name, name)
				assert.Equal(t, impltest.Bits(dx), impltest.Bits(in[which]), "%s: gradient over %s", k.name, name)
			}
		}
	})
}

// TestLossGradient checks each kernel's gradient against central
// differences of the loss it returns, times scale.
func TestLossGradient(t *testing.T) {
	const n = 37
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(15, 16))
		for _, k := range lossKernels {
			x, target := make([]float32, n), make([]float32, n)
			for i := range n {
				x[i], target[i] = k.gradX(r), float32(r.Float64())
			}
			target[0], target[1] = 0, 1
			dx, scratch := make([]float32, n), make([]float32, n)
			k.f(dx, x, target, k.scale)
			for i := range n {
				x0 := x[i]
				x[i] = x0 + float32(k.h)
				up := k.f(scratch, x, target, k.scale)
				x[i] = x0 - float32(k.h)
				down := k.f(scratch, x, target, k.scale)
				x[i] = x0
				fd := float64(k.scale) * (up - down) / (2 * k.h)
				assert.InDelta(t, fd, float64(dx[i]), k.tol, "%s: dx[%d] x=%v t=%v", k.name, i, x0, target[i])
			}
		}
	})
}

// adamRef is a float64 transcription of torch.optim.Adam's update.
type adamRef struct{ p, m, v []float64 }

func (a *adamRef) step(grad []float32, lr, beta1, beta2, eps float64, t int) {
	bias1 := 1 - math.Pow(beta1, float64(t))
	bias2 := 1 - math.Pow(beta2, float64(t))
	stepSize := lr / bias1
	for i, g32 := range grad {
		g := float64(g32)
		a.m[i] = beta1*a.m[i] + (1-beta1)*g
		a.v[i] = beta2*a.v[i] + (1-beta2)*g*g
		denom := math.Sqrt(a.v[i])/math.Sqrt(bias2) + eps
		a.p[i] -= stepSize * a.m[i] / denom
	}
}

// TestAdamStepTrajectory runs 100 steps against the float64 transcription.
// Each float32 step rounds p, m and v a few times; the bound adamRel allows
// 4 units of roundoff per step, accumulated linearly over the 100 steps,
// relative to |p| + 100·lr (how far p can have moved) for p, and to the
// running magnitudes for m and v.
func TestAdamStepTrajectory(t *testing.T) {
	const (
		n                     = 1037
		steps                 = 100
		lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
	)
	impls.Each(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		p0 := make([]float32, n)
		for i := range p0 {
			p0[i] = float32(r.NormFloat64())
		}
		g := guards{t: t}
		p, m, v := g.inOut(p0, 1), g.out(n, 2), g.out(n, 3)
		clear(m)
		clear(v)
		ref := adamRef{p: make([]float64, n), m: make([]float64, n), v: make([]float64, n)}
		for i, x := range p0 {
			ref.p[i] = float64(x)
		}
		maxM, maxV := make([]float64, n), make([]float64, n)
		grad := make([]float32, n)
		for step := 1; step <= steps; step++ {
			for i := range grad {
				grad[i] = float32(r.NormFloat64() * math.Exp(4*r.Float64()-2))
				if i%97 == 0 {
					grad[i] = 0 // v stays 0 for some: eps alone keeps denom positive
				}
			}
			grads := guards{t: t}
			AdamStep(p, grads.in(grad, step%4), m, v, lr, beta1, beta2, eps, step)
			grads.check()
			ref.step(grad, float64(float32(lr)), float64(float32(beta1)), float64(float32(beta2)), float64(float32(eps)), step)
			for i := range n {
				maxM[i] = max(maxM[i], math.Abs(ref.m[i]))
				maxV[i] = max(maxV[i], ref.v[i])
			}
		}
		g.check()
		for i := range n {
			assert.InDelta(t, ref.p[i], float64(p[i]), adamRel*(math.Abs(ref.p[i])+steps*lr), "p[%d]", i)
			assert.InDelta(t, ref.m[i], float64(m[i]), adamRel*maxM[i], "m[%d]", i)
			assert.InDelta(t, ref.v[i], float64(v[i]), adamRel*maxV[i], "v[%d]", i)
		}
	})
}

// TestAdamStepBitIdentical checks the documented promise that every
// implementation computes the same bits, over the awkward sizes.
func TestAdamStepBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, n := range fusedSizes {
		p0, g0, m0, v0 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range n {
			p0[i], g0[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			m0[i], v0[i] = float32(0.1*r.NormFloat64()), float32(r.Float64()*0.01)
		}
		if n > 3 {
			g0[3] = nan32()
		}
		wantP, wantM, wantV := slices.Clone(p0), slices.Clone(m0), slices.Clone(v0)
		adamStepGeneric(wantP, g0, wantM, wantV, newAdamHyper(3e-4, 0.9, 0.999, 1e-8, 7))
		impls.Each(t, func(t *testing.T) {
			for _, off := range fusedOffsets {
				g := guards{t: t}
				p, grad, m, v := g.inOut(p0, off), g.in(g0, off+3), g.inOut(m0, off+1), g.inOut(v0, off+2)
				AdamStep(p, grad, m, v, 3e-4, 0.9, 0.999, 1e-8, 7)
				g.check()
				assert.Equal(t, impltest.Bits(wantP), impltest.Bits(p), "p n=%d off=%d", n, off)
				assert.Equal(t, impltest.Bits(wantM), impltest.Bits(m), "m n=%d off=%d", n, off)
				assert.Equal(t, impltest.Bits(wantV), impltest.Bits(v), "v n=%d off=%d", n, off)
			}
		})
	}
}

// biasShapes are rows×cols matrices whose column counts hit every tail of
// the column loop, including the model's 400 and 784.
var biasShapes = func() [][2]int {
	var s [][2]int
	for _, cols := range []int{1, 3, 7, 8, 9, 16, 17, 31, 33, 40, 65, 100, 400, 784} {
		for _, rows := range []int{0, 1, 2, 5, 128} {
			s = append(s, [2]int{rows, cols})
		}
	}
	return s
}()

func TestAddBias(t *testing.T) {
	eachFusedCase(t, 27, biasShapes, func(t *testing.T, r *rand.Rand, sh [2]int, off int, g *guards) {
		rows, cols := sh[0], sh[1]
		y0, b0 := make([]float32, rows*cols), make([]float32, cols)
		for i := range y0 {
			y0[i] = float32(r.NormFloat64())
		}
		for i := range b0 {
			b0[i] = float32(r.NormFloat64())
		}
		y, bias := g.inOut(y0, off), g.in(b0, off+1)
		AddBias(y, bias)
		for i := range y {
			if want := y0[i] + b0[i%cols]; math.Float32bits(want) != math.Float32bits(y[i]) {
				assert.Failf(t, "AddBias", "%dx%d off=%d i=%d: %v want %v", rows, cols, off, i, y[i], want)
				break
			}
		}
	})
}

// TestSumRows checks exact agreement with the documented order: blocks of
// four rows added pairwise in float32, block sums and the last rows added in
// float64 from the first row down, rounded once; and the error bound.
func TestSumRows(t *testing.T) {
	eachFusedCase(t, 29, biasShapes, func(t *testing.T, r *rand.Rand, sh [2]int, off int, g *guards) {
		rows, cols := sh[0], sh[1]
		s0 := make([]float32, rows*cols)
		for i := range s0 {
			s0[i] = float32(r.NormFloat64() * math.Exp(10*r.Float64()-5))
		}
		src, dst := g.in(s0, off), g.out(cols, off+1)
		SumRows(dst, src)
		for j := range cols {
			var want, exact, mag float64
			k := 0
			for ; k+4 <= rows; k += 4 {
				x := func(q int) float32 { return s0[(k+q)*cols+j] }
				want += float64((x(0) + x(1)) + (x(2) + x(3)))
			}
			for ; k < rows; k++ {
				want += float64(s0[k*cols+j])
			}
			for k := range rows {
				exact += float64(s0[k*cols+j])
				mag += math.Abs(float64(s0[k*cols+j]))
			}
			if math.Float32bits(float32(want)) != math.Float32bits(dst[j]) {
				assert.Failf(t, "SumRows", "%dx%d off=%d col %d: %v want %v", rows, cols, off, j, dst[j], float32(want))
				break
			}
			if !errWithin(dst[j], exact, mag, 0.5, 2*u32+float64(rows)*0x1p-53) {
				assert.Failf(t, "SumRows bound", "%dx%d col %d: %v exact %v", rows, cols, j, dst[j], exact)
				break
			}
		}
	})
}

func TestFusedPanics(t *testing.T) {
	a, b := make([]float32, 3), make([]float32, 4)
	cases := []struct {
		msg string
		f   func()
	}{
		{"kernels: ReparamKL: len(z)=3 != len(eps)=4", func() { ReparamKL(a, a, a, b) }},
		{"kernels: ReparamKLBackward: len(dmu)=3 != len(dlogvar)=4", func() { ReparamKLBackward(a, b, a, a, a, a, 1) }},
		{"kernels: BCEWithLogits: len(dlogits)=3 != len(target)=4", func() { BCEWithLogits(a, a, b, 1) }},
		{"kernels: SquaredError: len(dout)=3 != len(out)=4", func() { SquaredError(a, b, a, 1) }},
		{"kernels: AdamStep: len(param)=3 != len(v)=4", func() { AdamStep(a, a, a, b, 1, 0.9, 0.99, 1e-8, 1) }},
		{"kernels: AdamStep: step=0 < 1", func() { AdamStep(a, a, a, a, 1, 0.9, 0.99, 1e-8, 0) }},
		{"kernels: AddBias: len(y)=4 is not a multiple of len(bias)=3", func() { AddBias(b, a) }},
		{"kernels: SumRows: len(src)=3 is not a multiple of len(dst)=4", func() { SumRows(b, a) }},
		{"kernels: SumRows: len(src)=3 is not a multiple of len(dst)=0", func() { SumRows(nil, a) }},
	}
	for _, c := range cases {
		assert.PanicsWithValue(t, c.msg, c.f)
	}
}

// TestFusedSumsLong checks the 1e-6 bound on the sums where float32
// accumulation would miss it by orders of magnitude: 1e7 terms of similar
// size. It takes about 2 s and 160 MB; -short skips it.
func TestFusedSumsLong(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 10_000_000
	r := rand.New(rand.NewPCG(31, 32))
	a, b, c, out := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		a[i], b[i], c[i] = float32(r.NormFloat64()), float32(6*r.Float64()-3), float32(r.Float64())
	}
	var wantKL, wantBCE, wantSE float64
	for i := range n {
		wantKL += refKLTerm(a[i], b[i])
		l, _, _ := refBCE(b[i], c[i])
		wantBCE += l
		d := float64(a[i]) - float64(c[i])
		wantSE += d * d / 2
	}
	impls.Each(t, func(t *testing.T) {
		for _, k := range []struct {
			name string
			got  func() float64
			want float64
		}{
			{"ReparamKL", func() float64 { return ReparamKL(out, a, b, c) }, wantKL},
			{"BCEWithLogits", func() float64 { return BCEWithLogits(out, b, c, 1) }, wantBCE},
			{"SquaredError", func() float64 { return SquaredError(out, a, c, 1) }, wantSE},
		} {
			got := k.got()
			t.Logf("%s: relative error %.2g", k.name, math.Abs(got-k.want)/k.want)
			sumWithin(t, got, refSum{sum: k.want}, k.name)
		}
	})
}
