// Package detmath is float64 arithmetic that gives the same bits on every
// architecture, for the generic kernels and the random streams: e^x
// (Reduce and Scale are its two halves, small enough to inline into
// loops), e^x − 1 − x, ln(1+e) on [0, 1], ln x and integer powers.
//
// The math package's Exp and Log are assembly on some architectures, and its
// pure-Go versions may be contracted into FMAs differently per architecture,
// so they could round differently. These use only +, −, ×, ÷, Sqrt and Abs,
// each correctly rounded, with every product that the compiler might fuse
// wrapped in a conversion. Their relative error is far under float32's
// resolution, so float32 results derived from them are correctly rounded
// except in rare near-ties.
package detmath

import "math"

const (
	// ExpOverflow is the largest float32 whose e^x is finite: 0x42b17217.
	ExpOverflow = 88.72283172607421875
	// ExpUnderflow lies below ln(2^-150) = -103.972...: e^x rounds to 0.
	ExpUnderflow = -104
)

// Exp returns e^x within about 2^-39 relative error for
// ExpUnderflow ≤ x ≤ 89: x = k·ln2/32 + r with |r| ≤ ln2/64, and
// e^x = 2^(k>>5) · 2^((k&31)/32) · e^r with e^r from its degree-4 Taylor
// polynomial (truncation error r^5/120 < 2^-39). Its two halves,
// Reduce and Scale, are small enough for the compiler to inline into
// loops, where the kernels call them directly.
func Exp(x float64) float64 { return Scale(Reduce(x)) }

const (
	expMagic     = 0x1.8p52 // adding it rounds |y| < 2^51 to an integer
	expMagicBits = 0x4338000000000000
)

// Reduce returns r and the bits of expMagic + k.
func Reduce(x float64) (kb uint64, r float64) {
	kf := float64(x*(32/math.Ln2)) + expMagic
	kb = math.Float64bits(kf) // expMagicBits + k: k&31 and k>>5 are in its low bits
	kf -= expMagic
	return kb, x - float64(kf*(math.Ln2/32))
}

// Scale returns 2^(k>>5) · 2^((k&31)/32) · e^r.
func Scale(kb uint64, r float64) float64 {
	p := float64(float64(float64(float64(float64(r*(1.0/24))+1.0/6)*r)+0.5)*r) + 1
	p = float64(p*r) + 1
	scale := math.Float64frombits((kb>>5 - (expMagicBits>>5 - 1023)) << 52)
	return float64(expTab[kb&31]*p) * scale
}

// expTab[j] is the float64 nearest 2^(j/32).
var expTab = [32]float64{
	0x1p+00,               // 2^(0/32)
	0x1.059b0d3158574p+00, // 2^(1/32)
	0x1.0b5586cf9890fp+00, // 2^(2/32)
	0x1.11301d0125b51p+00, // 2^(3/32)
	0x1.172b83c7d517bp+00, // 2^(4/32)
	0x1.1d4873168b9aap+00, // 2^(5/32)
	0x1.2387a6e756238p+00, // 2^(6/32)
	0x1.29e9df51fdee1p+00, // 2^(7/32)
	0x1.306fe0a31b715p+00, // 2^(8/32)
	0x1.371a7373aa9cbp+00, // 2^(9/32)
	0x1.3dea64c123422p+00, // 2^(10/32)
	0x1.44e086061892dp+00, // 2^(11/32)
	0x1.4bfdad5362a27p+00, // 2^(12/32)
	0x1.5342b569d4f82p+00, // 2^(13/32)
	0x1.5ab07dd485429p+00, // 2^(14/32)
	0x1.6247eb03a5585p+00, // 2^(15/32)
	0x1.6a09e667f3bcdp+00, // 2^(16/32)
	0x1.71f75e8ec5f74p+00, // 2^(17/32)
	0x1.7a11473eb0187p+00, // 2^(18/32)
	0x1.82589994cce13p+00, // 2^(19/32)
	0x1.8ace5422aa0dbp+00, // 2^(20/32)
	0x1.93737b0cdc5e5p+00, // 2^(21/32)
	0x1.9c49182a3f09p+00,  // 2^(22/32)
	0x1.a5503b23e255dp+00, // 2^(23/32)
	0x1.ae89f995ad3adp+00, // 2^(24/32)
	0x1.b7f76f2fb5e47p+00, // 2^(25/32)
	0x1.c199bdd85529cp+00, // 2^(26/32)
	0x1.cb720dcef9069p+00, // 2^(27/32)
	0x1.d5818dcfba487p+00, // 2^(28/32)
	0x1.dfc97337b9b5fp+00, // 2^(29/32)
	0x1.ea4afa2a490dap+00, // 2^(30/32)
	0x1.f50765b6e454p+00,  // 2^(31/32)
}

// ExpFull returns e^x for every x: Exp (relative error 2^-39) where it is
// valid, 0 below ExpUnderflow, +Inf above 89, where every float32 result
// built on it overflows anyway, and NaN for NaN.
func ExpFull(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > 89:
		return math.Inf(1)
	case x < ExpUnderflow:
		return 0
	}
	return Exp(x)
}

// Expm1mx returns e^x − 1 − x, given ex = e^x, with full relative
// accuracy near 0, where ex − 1 − x would cancel; it is the KL divergence's
// per-element term in logvar.
func Expm1mx(x, ex float64) float64 {
	if x > 100 {
		return ex // 1 + x is below half an ULP of e^x; keeps +Inf − Inf out
	}
	if math.Abs(x) >= 0.5 || x != x {
		// e^x − 1 − x ≥ 0.1 here, and e^x/(e^x − 1 − x) ≤ 11 bounds the
		// cancellation (of ex's 2^-39 error, too).
		return float64(ex-1) - x
	}
	// x²·Σ x^n/(n+2)! to n = 15; the remainder is below 1e-16 relative.
	return float64(x*x) * horner(x, expm1Terms[:])
}

// Log1pUnit returns ln(1 + e) for e in [0, 1] (and propagates NaN), accurate
// relative to the result also for tiny e, where 1 + e would round to 1.
func Log1pUnit(e float64) float64 {
	k := 0.0
	if e >= 0.5 {
		// ln(1+e) = ln 2 + ln(1+f) with f = (e−1)/2 in [−1/4, 0], exact.
		k, e = 1, (e-1)/2
	}
	// ln(1+e) = 2·atanh(s) with s = e/(2+e), |s| ≤ 0.2: 2s·Σ s^2n/(2n+1).
	s := e / (2 + e)
	z := s * s
	return float64(k*math.Ln2) + float64(float64(2*s)*horner(z, lnTerms[:]))
}

// PowInt returns x^n for n ≥ 0 by repeated squaring: products only, so no
// FMA contraction can change it.
func PowInt(x float64, n int) float64 {
	r := 1.0
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			r *= x
		}
		x *= x
	}
	return r
}

// Split of ln 2: ln2Hi has its low bits zero, so e·ln2Hi is exact for any
// float64 exponent e.
const (
	ln2Hi = 6.93147180369123816490e-01
	ln2Lo = 1.90821492927058770002e-10
)

// lnTerms holds 1/(2k+1), the coefficients of atanh(s)/s as a series in s²,
// and expm1Terms 1/(n+2)!, those of (e^x − 1 − x)/x², each computed by one
// correctly rounded division of exact integers, so the same everywhere.
var lnTerms, expm1Terms = func() (ln [12]float64, em [16]float64) {
	for k := range ln {
		ln[k] = 1 / float64(2*k+1)
	}
	f := 1.0
	for n := range em {
		f *= float64(n + 2) // (n+2)! is exact up to 2^53
		em[n] = 1 / f
	}
	return ln, em
}()

// horner returns c[0] + x·(c[1] + x·(…)), each product rounded before the
// sum that follows, so that no FMA alters the bits.
func horner(x float64, c []float64) float64 {
	p := c[len(c)-1]
	for k := len(c) - 2; k >= 0; k-- {
		p = float64(p*x) + c[k]
	}
	return p
}

// Log returns the natural logarithm of a positive normal float64 to within
// 2 ULP, with the same bits on every architecture (math.Log is assembly on
// some): x = 2^e·m with m in [√½, √2), ln m = 2·atanh(s) with
// s = (m−1)/(m+1), |s| ≤ 0.1716, summed to 12 terms of its series, every
// product rounded before the following sum so that no FMA alters the bits.
// Zero, subnormal, negative, infinite and NaN arguments give meaningless
// results.
func Log(x float64) float64 {
	bits := math.Float64bits(x)
	e := int(bits>>52&0x7ff) - 1023
	m := math.Float64frombits(bits&^(0x7ff<<52) | 1023<<52) // [1, 2)
	if m > math.Sqrt2 {
		m /= 2 // exact
		e++
	}
	s := (m - 1) / (m + 1) // m−1 is exact here
	p := horner(float64(s*s), lnTerms[:])
	fe := float64(e)
	return float64(fe*ln2Hi) + (float64(fe*ln2Lo) + float64(2*s*p))
}
