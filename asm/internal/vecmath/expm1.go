package vecmath

import (
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

const (
	offM1Log2E = 32 * iota // log2(e)
	offM1Ln2Hi             // ln2, the float32 nearest it
	offM1Ln2Lo             // ln2 − offM1Ln2Hi
	offM1Bias              // 127<<23, the exponent bias in place
	offM1Q                 // Q's coefficients, constant term first
)

var expm1Q = []uint32{0x3f000000, 0x3e2aaaab, 0x3d2aaa75, 0x3c088870, 0x3ab6a192, 0x39509279}

var expm1Data Mem

// expm1Consts returns the data block of ExpExpm1AVX2 and ExpExpm1AVX512,
// adding it to the generated file on first use. Its 32-byte entries serve
// AVX2 as 8 lanes and AVX-512 as 4-byte broadcasts.
func expm1Consts() Mem {
	if expm1Data.Symbol.Name != "" {
		return expm1Data
	}
	expm1Data = GLOBL("vecmath_expm1", RODATA|NOPTR)
	vals := []uint32{0x3fb8aa3b, 0x3f317218, 0xb102e308, 127 << 23}
	vals = append(vals, expm1Q...)
	for k, v := range vals {
		for i := range 8 {
			DATA(32*k+4*i, U32(v))
		}
	}
	return expm1Data
}

// ExpExpm1AVX2 replaces every float32 lane of the YMM registers xs by e^x
// and returns new registers holding e^x − 1, accurate relative to it also
// near x = 0 (within about 1 ULP for |x| ≤ ln2/2, 4 ULP beyond). e^x is
// within about 1 ULP for every input, subnormal results included: +Inf above
// 88.7228..., 0 below −103.97, NaN for NaN (e^x − 1 gives +Inf, −1, NaN).
// It keeps its constants in memory, except the two clamp bounds.
func ExpExpm1AVX2(xs []reg.VecVirtual) []reg.VecVirtual {
	d, m := consts(), expm1Consts()
	n := len(xs)
	t, kf, q := make([]reg.VecVirtual, n), make([]reg.VecVirtual, n), make([]reg.VecVirtual, n)
	lo, hi := YMM(), YMM()
	VMOVUPS(d.at(offClampLo), lo)
	VMOVUPS(d.at(offClampHi), hi)
	// Clamping keeps k within ±150 so the two-step scaling below stays in
	// range; with x as the second source VMAXPS and VMINPS return it when it
	// is NaN.
	for _, x := range xs {
		VMAXPS(x, lo, x)
		VMINPS(x, hi, x)
	}
	for j, x := range xs {
		t[j] = YMM()
		VMOVUPS(d.at(offMagic), t[j])
		VFMADD231PS(m.Offset(offM1Log2E), x, t[j]) // t = x·log2e + magic: k in its low bits
	}
	for j := range xs {
		kf[j] = YMM()
		VSUBPS(d.at(offMagic), t[j], kf[j]) // k as a float, exactly
	}
	for j, r := range xs { // r = x − k·ln2, the first step exact
		VFNMADD231PS(m.Offset(offM1Ln2Hi), kf[j], r)
	}
	for j, r := range xs {
		VFNMADD231PS(m.Offset(offM1Ln2Lo), kf[j], r)
	}
	for j := range xs {
		q[j] = YMM()
		VMOVUPS(m.Offset(offM1Q+32*(len(expm1Q)-1)), q[j])
	}
	for c := len(expm1Q) - 2; c >= 0; c-- {
		for j, r := range xs {
			VFMADD213PS(m.Offset(offM1Q+32*c), r, q[j]) // q = r·q + Q_c
		}
	}
	for j, r := range xs {
		r2 := YMM()
		VMULPS(r, r, r2)
		VFMADD213PS(r, r2, q[j]) // P = r²·Q + r
	}
	for j, s := range xs {
		VADDPS(d.at(offOne), q[j], s)
	}
	// 2^k = 2^n1·2^n2 with n1 = k>>1, n2 = k − n1, both within the normal
	// exponent range for |k| ≤ 150: (1+P)·2^n1 is exact and only the last
	// product rounds, once, also into the subnormals.
	for j, s := range xs {
		k := t[j]
		VPSUBD(d.at(offMagic), k, k)
		n1 := YMM()
		VPSRAD(Imm(1), k, n1)
		VPSUBD(n1, k, k)
		VPSLLD(Imm(23), n1, n1)
		VPADDD(m.Offset(offM1Bias), n1, n1)
		VPSLLD(Imm(23), k, k)
		VPADDD(m.Offset(offM1Bias), k, k)
		VMULPS(n1, s, s)
		VMULPS(k, s, s)
	}
	em1 := make([]reg.VecVirtual, n)
	for j, s := range xs {
		em1[j] = YMM()
		k0 := t[j] // free again
		VSUBPS(d.at(offOne), s, em1[j])
		VXORPS(k0, k0, k0)
		VCMPPS(Imm(0), k0, kf[j], k0) // k == 0
		VBLENDVPS(k0, q[j], em1[j], em1[j])
	}
	return em1
}

// ExpExpm1AVX512 is ExpExpm1AVX2 for the ZMM registers xs (AVX-512F), with
// the same reduction and polynomial; k is rounded by VRNDSCALEPS and
// VSCALEFPS scales by 2^k with one rounding.
func ExpExpm1AVX512(xs []reg.VecVirtual) []reg.VecVirtual {
	d, m := consts(), expm1Consts()
	n := len(xs)
	kf, q := make([]reg.VecVirtual, n), make([]reg.VecVirtual, n)
	lo, hi := ZMM(), ZMM()
	VBROADCASTSS(d.at(offClampLo), lo)
	VBROADCASTSS(d.at(offClampHi), hi)
	for _, x := range xs {
		VMAXPS(x, lo, x)
		VMINPS(x, hi, x)
	}
	for j, x := range xs {
		kf[j] = ZMM()
		VMULPS_BCST(m.Offset(offM1Log2E), x, kf[j])
		VRNDSCALEPS(Imm(0), kf[j], kf[j]) // round to nearest even
	}
	for j, r := range xs {
		VFNMADD231PS_BCST(m.Offset(offM1Ln2Hi), kf[j], r)
	}
	for j, r := range xs {
		VFNMADD231PS_BCST(m.Offset(offM1Ln2Lo), kf[j], r)
	}
	for j := range xs {
		q[j] = ZMM()
		VBROADCASTSS(m.Offset(offM1Q+32*(len(expm1Q)-1)), q[j])
	}
	for c := len(expm1Q) - 2; c >= 0; c-- {
		for j, r := range xs {
			VFMADD213PS_BCST(m.Offset(offM1Q+32*c), r, q[j])
		}
	}
	for j, r := range xs {
		r2 := ZMM()
		VMULPS(r, r, r2)
		VFMADD213PS(r, r2, q[j]) // P = r²·Q + r
	}
	em1 := make([]reg.VecVirtual, n)
	for j, s := range xs {
		VADDPS_BCST(d.at(offOne), q[j], s)
		VSCALEFPS(kf[j], s, s) // (1+P)·2^k
		em1[j] = ZMM()
		k0 := K()
		VPXORD(em1[j], em1[j], em1[j])
		VCMPPS(Imm(0), em1[j], kf[j], k0) // k == 0
		VSUBPS_BCST(d.at(offOne), s, em1[j])
		VBLENDMPS(q[j], em1[j], k0, em1[j])
	}
	return em1
}
