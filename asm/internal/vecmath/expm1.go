package vecmath

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// e^x together with e^x − 1, for kernels that need both (the KL gradient's
// e^logvar − 1 near logvar = 0). Exp's reduction by ln2/8 leaves e^x − 1
// free of cancellation only for |x| ≤ ln2/16; this one reduces by ln2:
// x = k·ln2 + r with k = round(x/ln2), |r| ≤ ln2/2, e^r = 1 + P with
// P = r + r²·Q(r), Q fitted to (e^r − 1 − r)/r² by Chebyshev interpolation
// (degree 5, coefficients rounded to float32, relative error 0.15 u). Where
// k = 0, r = x exactly and P is e^x − 1 within about 1 ULP; elsewhere
// |e^x − 1| ≥ (1 − 1/√2)·e^x and e^x − 1 = RN(e^x) − 1 loses at most a factor
// 3.5 of e^x's error. e^x itself is 1 + P scaled by 2^k, rounded once (also
// into the subnormals), within about 1 ULP.

// The constants' bits: log2(e); ln2 split into the float32 nearest it and
// the rest; the exponent bias in place; Q's coefficients, constant term first.
const (
	m1Log2E = 0x3fb8aa3b
	m1Ln2Hi = 0x3f317218
	m1Ln2Lo = 0xb102e308
	m1Bias  = 127 << 23
)

var expm1Q = []uint32{0x3f000000, 0x3e2aaaab, 0x3d2aaa75, 0x3c088870, 0x3ab6a192, 0x39509279}

// ExpExpm1AVX2 replaces every float32 lane of the YMM registers xs by e^x
// and returns new registers holding e^x − 1, accurate relative to it also
// near x = 0 (within about 1 ULP for |x| ≤ ln2/2, 4 ULP beyond). e^x is
// within about 1 ULP for every input, subnormal results included: +Inf above
// 88.7228..., 0 below −103.97, NaN for NaN (e^x − 1 gives +Inf, −1, NaN).
// It keeps its constants in memory, except the two clamp bounds.
func ExpExpm1AVX2(xs []reg.VecVirtual) []reg.VecVirtual {
	n := len(xs)
	t, kf := make([]reg.VecVirtual, n), make([]reg.VecVirtual, n)
	lo, hi := YMM(), YMM()
	VMOVUPS(avx.F32(clampLo), lo)
	VMOVUPS(avx.F32(clampHi), hi)
	// Clamping keeps k within ±150 so the two-step scaling below stays in
	// range; with x as the second source VMAXPS and VMINPS return it when it
	// is NaN.
	for _, x := range xs {
		VMAXPS(x, lo, x)
		VMINPS(x, hi, x)
	}
	for j, x := range xs {
		t[j] = YMM()
		VMOVUPS(avx.F32(magic), t[j])
		VFMADD231PS(avx.Splat(m1Log2E), x, t[j]) // t = x·log2e + magic: k in its low bits
	}
	for j := range xs {
		kf[j] = YMM()
		VSUBPS(avx.F32(magic), t[j], kf[j]) // k as a float, exactly
	}
	for j, r := range xs { // r = x − k·ln2, the first step exact
		VFNMADD231PS(avx.Splat(m1Ln2Hi), kf[j], r)
	}
	for j, r := range xs {
		VFNMADD231PS(avx.Splat(m1Ln2Lo), kf[j], r)
	}
	q := avx.Horner(avx.YMM, xs, expm1Q)
	for j, r := range xs {
		r2 := YMM()
		VMULPS(r, r, r2)
		VFMADD213PS(r, r2, q[j]) // P = r²·Q + r
	}
	for j, s := range xs {
		VADDPS(avx.F32(1), q[j], s)
	}
	// 2^k = 2^n1·2^n2 with n1 = k>>1, n2 = k − n1, both within the normal
	// exponent range for |k| ≤ 150: (1+P)·2^n1 is exact and only the last
	// product rounds, once, also into the subnormals.
	for j, s := range xs {
		k := t[j]
		VPSUBD(avx.F32(magic), k, k)
		n1 := YMM()
		VPSRAD(Imm(1), k, n1)
		VPSUBD(n1, k, k)
		VPSLLD(Imm(23), n1, n1)
		VPADDD(avx.Splat(m1Bias), n1, n1)
		VPSLLD(Imm(23), k, k)
		VPADDD(avx.Splat(m1Bias), k, k)
		VMULPS(n1, s, s)
		VMULPS(k, s, s)
	}
	em1 := make([]reg.VecVirtual, n)
	for j, s := range xs {
		em1[j] = YMM()
		k0 := t[j] // free again
		VSUBPS(avx.F32(1), s, em1[j])
		VXORPS(k0, k0, k0)
		VCMPPS(Imm(avx.CmpEQOQ), k0, kf[j], k0) // k == 0
		VBLENDVPS(k0, q[j], em1[j], em1[j])
	}
	return em1
}

// ExpExpm1AVX512 is ExpExpm1AVX2 for the ZMM registers xs (AVX-512F), with
// the same reduction and polynomial; k is rounded by VRNDSCALEPS and
// VSCALEFPS scales by 2^k with one rounding.
func ExpExpm1AVX512(xs []reg.VecVirtual) []reg.VecVirtual {
	n := len(xs)
	kf := make([]reg.VecVirtual, n)
	lo, hi := ZMM(), ZMM()
	VBROADCASTSS(avx.F32(clampLo), lo)
	VBROADCASTSS(avx.F32(clampHi), hi)
	for _, x := range xs {
		VMAXPS(x, lo, x)
		VMINPS(x, hi, x)
	}
	for j, x := range xs {
		kf[j] = ZMM()
		VMULPS_BCST(avx.Splat(m1Log2E), x, kf[j])
		VRNDSCALEPS(Imm(avx.RoundNearest), kf[j], kf[j])
	}
	for j, r := range xs {
		VFNMADD231PS_BCST(avx.Splat(m1Ln2Hi), kf[j], r)
	}
	for j, r := range xs {
		VFNMADD231PS_BCST(avx.Splat(m1Ln2Lo), kf[j], r)
	}
	q := avx.Horner(avx.ZMM, xs, expm1Q)
	for j, r := range xs {
		r2 := ZMM()
		VMULPS(r, r, r2)
		VFMADD213PS(r, r2, q[j]) // P = r²·Q + r
	}
	em1 := make([]reg.VecVirtual, n)
	for j, s := range xs {
		VADDPS_BCST(avx.F32(1), q[j], s)
		VSCALEFPS(kf[j], s, s) // (1+P)·2^k
		em1[j] = ZMM()
		k0 := K()
		VPXORD(em1[j], em1[j], em1[j])
		VCMPPS(Imm(avx.CmpEQOQ), em1[j], kf[j], k0) // k == 0
		VSUBPS_BCST(avx.F32(1), s, em1[j])
		VBLENDMPS(q[j], em1[j], k0, em1[j])
	}
	return em1
}
