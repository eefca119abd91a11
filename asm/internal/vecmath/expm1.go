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

// expm1Poly reduces each x to r = x − k·ln2, with k the float integer in
// ks, and returns new registers holding P = r + r²·Q(r), e^r − 1.
func expm1Poly(w avx.Width, xs, ks []reg.VecVirtual) []reg.VecVirtual {
	reduce(w, xs, ks, avx.Splat(m1Ln2Hi), avx.Splat(m1Ln2Lo))
	q := avx.Horner(w, xs, expm1Q)
	for j, r := range xs {
		r2 := w.Reg()
		VMULPS(r, r, r2)
		VFMADD213PS(r, r2, q[j]) // P = r²·Q + r
	}
	return q
}

// ExpExpm1AVX2 replaces every float32 lane of the YMM registers xs by e^x
// and returns new registers holding e^x − 1, accurate relative to it also
// near x = 0 (within about 1 ULP for |x| ≤ ln2/2, 4 ULP beyond). e^x is
// within about 1 ULP for every input, subnormal results included: +Inf above
// 88.7228..., 0 below −103.97, NaN for NaN (e^x − 1 gives +Inf, −1, NaN).
// It keeps its constants in memory, except the two clamp bounds.
func ExpExpm1AVX2(xs []reg.VecVirtual) []reg.VecVirtual {
	n := len(xs)
	t, kf := make([]reg.VecVirtual, n), make([]reg.VecVirtual, n)
	// Clamping keeps k within ±150 so the two-step scaling below stays in
	// range.
	clamp(avx.YMM, xs)
	for j, x := range xs {
		t[j] = YMM()
		VMOVUPS(avx.F32(magic), t[j])
		VFMADD231PS(avx.Splat(m1Log2E), x, t[j]) // t = x·log2e + magic: k in its low bits
	}
	for j := range xs {
		kf[j] = YMM()
		VSUBPS(avx.F32(magic), t[j], kf[j]) // k as a float, exactly
	}
	q := expm1Poly(avx.YMM, xs, kf)
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
	clamp(avx.ZMM, xs)
	for j, x := range xs {
		kf[j] = ZMM()
		VMULPS_BCST(avx.Splat(m1Log2E), x, kf[j])
		VRNDSCALEPS(Imm(avx.RoundNearest), kf[j], kf[j])
	}
	q := expm1Poly(avx.ZMM, xs, kf)
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
