package kernels

import "math"

// Deterministic float64 elementary functions for the generic kernels. The
// math package's Exp and Log are assembly on some architectures and their
// pure-Go versions may be contracted into FMAs differently per architecture,
// so they could round differently; these use only +, −, ×, ÷, Floor and
// Ldexp (all exactly specified by IEEE 754 and Go) with every product that
// the compiler might fuse wrapped in a conversion. Their relative error is
// below 1e-15, far under float32's resolution, so float32 results derived
// from them are correctly rounded except in rare near-ties.

const (
	log2e = 1.44269504088896340735992468100189214
	// ln2Hi has 33 significant bits, so k·ln2Hi is exact for |k| < 2^20;
	// ln2Lo = ln 2 − ln2Hi.
	ln2Hi = 0x1.62e42fefa0000p-1
	ln2Lo = 0.69314718055994530941723212145817657 - ln2Hi
)

// exp64 returns e^x: +Inf above 709.78, 0 below −745.13, NaN for NaN.
func exp64(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > 709.8:
		return math.Inf(1)
	case x < -745.2:
		return 0
	}
	k := math.Floor(float64(x*log2e) + 0.5)
	r := float64(x-float64(k*ln2Hi)) - float64(k*ln2Lo) // |r| ≤ 0.3466
	// Taylor series to r^12/12!; the remainder r^13/13! < 2e-16.
	p := 1.0 / 479001600
	p = float64(p*r) + 1.0/39916800
	p = float64(p*r) + 1.0/3628800
	p = float64(p*r) + 1.0/362880
	p = float64(p*r) + 1.0/40320
	p = float64(p*r) + 1.0/5040
	p = float64(p*r) + 1.0/720
	p = float64(p*r) + 1.0/120
	p = float64(p*r) + 1.0/24
	p = float64(p*r) + 1.0/6
	p = float64(p*r) + 1.0/2
	p = float64(p*r) + 1
	p = float64(p*r) + 1
	return math.Ldexp(p, int(k))
}

// expm1mx64 returns e^x − 1 − x with full relative accuracy near 0, where
// forming e^x first would cancel; it is the KL divergence's per-element term
// in logvar.
func expm1mx64(x float64) float64 {
	if x > 100 {
		return exp64(x) // 1 + x is below half an ULP of e^x; keeps +Inf − Inf out
	}
	if math.Abs(x) >= 0.5 || x != x {
		// e^x − 1 − x ≥ 0.1 here, and e^x/(e^x − 1 − x) ≤ 11 bounds the
		// cancellation.
		return float64(exp64(x)-1) - x
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
	return float64(k*ln2Hi) + (float64(k*ln2Lo) + float64(float64(2*s)*float64(float64(p*z)+1)))
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
