package kernels

import "math"

// Deterministic float64 helpers of the generic fused kernels, beside exp64
// of elementwise_generic.go. The math package's Exp and Log are assembly on
// some architectures and their pure-Go versions may be contracted into FMAs
// differently per architecture, so they could round differently; these use
// only +, −, ×, ÷ and Abs, with every product that the compiler might fuse
// wrapped in a conversion. Their relative error is far under float32's
// resolution, so float32 results derived from them are correctly rounded
// except in rare near-ties.

// expFull returns e^x for every x: exp64 (relative error 2^-39) where it is
// valid, 0 below expUnderflow, +Inf above 89, where every float32 result
// built on it overflows anyway, and NaN for NaN.
func expFull(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > 89:
		return math.Inf(1)
	case x < expUnderflow:
		return 0
	}
	return exp64(x)
}

// expm1mx64 returns e^x − 1 − x, given ex = e^x, with full relative
// accuracy near 0, where ex − 1 − x would cancel; it is the KL divergence's
// per-element term in logvar.
func expm1mx64(x, ex float64) float64 {
	if x > 100 {
		return ex // 1 + x is below half an ULP of e^x; keeps +Inf − Inf out
	}
	if math.Abs(x) >= 0.5 || x != x {
		// e^x − 1 − x ≥ 0.1 here, and e^x/(e^x − 1 − x) ≤ 11 bounds the
		// cancellation (of ex's 2^-39 error, too).
		return float64(ex-1) - x
	}
	// x²·Σ x^n/(n+2)! to n = 14; the remainder is below 1e-16 relative.
	p := 1.0 / 355687428096000
	p = float64(p*x) + 1.0/20922789888000
	p = float64(p*x) + 1.0/1307674368000
	p = float64(p*x) + 1.0/87178291200
	p = float64(p*x) + 1.0/6227020800
	p = float64(p*x) + 1.0/479001600
	p = float64(p*x) + 1.0/39916800
	p = float64(p*x) + 1.0/3628800
	p = float64(p*x) + 1.0/362880
	p = float64(p*x) + 1.0/40320
	p = float64(p*x) + 1.0/5040
	p = float64(p*x) + 1.0/720
	p = float64(p*x) + 1.0/120
	p = float64(p*x) + 1.0/24
	p = float64(p*x) + 1.0/6
	p = float64(p*x) + 1.0/2
	return float64(x*x) * p
}

// log1p01 returns ln(1 + e) for e in [0, 1] (and propagates NaN), accurate
// relative to the result also for tiny e, where 1 + e would round to 1.
func log1p01(e float64) float64 {
	k := 0.0
	if e >= 0.5 {
		// ln(1+e) = ln 2 + ln(1+f) with f = (e−1)/2 in [−1/4, 0], exact.
		k, e = 1, (e-1)/2
	}
	// ln(1+e) = 2·atanh(s) with s = e/(2+e), |s| ≤ 0.2: 2s·Σ s^2n/(2n+1).
	s := e / (2 + e)
	z := s * s
	p := 1.0 / 23
	p = float64(p*z) + 1.0/21
	p = float64(p*z) + 1.0/19
	p = float64(p*z) + 1.0/17
	p = float64(p*z) + 1.0/15
	p = float64(p*z) + 1.0/13
	p = float64(p*z) + 1.0/11
	p = float64(p*z) + 1.0/9
	p = float64(p*z) + 1.0/7
	p = float64(p*z) + 1.0/5
	p = float64(p*z) + 1.0/3
	return float64(k*math.Ln2) + float64(float64(2*s)*float64(float64(p*z)+1))
}

// powInt returns x^n for n ≥ 0 by repeated squaring: products only, so no
// FMA contraction can change it.
func powInt(x float64, n int) float64 {
	r := 1.0
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			r *= x
		}
		x *= x
	}
	return r
}
