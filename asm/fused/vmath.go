package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Vector float32 math private to the fused kernels. ReparamKL and
// BCEWithLogits take e^x (and ln(1+x)) from the shared emitters of
// asm/internal/vecmath; ReparamKLBackward needs e^x together with the pieces
// of its evaluation (e^r − 1 where k = 0 is e^x − 1 without cancellation,
// for e^logvar − 1 near logvar = 0), which vecmath's Exp does not expose, so
// exp below serves it, with the same 1-ULP contract.

// consts holds one 32-byte RODATA vector per distinct constant.
var consts = map[string]Mem{}

// splat returns a memory operand holding 8 copies of the 32-bit pattern.
func splat(bits uint32) Mem {
	name := fmt.Sprintf("fusedc_%08x", bits)
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for k := range lanes {
		DATA(4*k, U32(bits))
	}
	consts[name] = m
	return m
}

// f32 returns a memory operand holding 8 copies of v.
func f32(v float32) Mem { return splat(math.Float32bits(v)) }

// tailMask is 8 all-ones words followed by 8 zero words; the 8 words at
// element 8−r make a VMASKMOVPS mask selecting the first r lanes.
var tailMask Mem

func maskTable() Mem {
	if tailMask.Symbol.Name == "" {
		tailMask = GLOBL("fused_tailmask", RODATA|NOPTR)
		for k := range 2 * lanes {
			v := uint32(0)
			if k < lanes {
				v = 0xffffffff
			}
			DATA(4*k, U32(v))
		}
	}
	return tailMask
}

// loadTailMask returns a mask selecting the first rem (1..7) lanes.
func loadTailMask(rem reg.Register) reg.VecVirtual {
	tbl := GP64()
	LEAQ(maskTable(), tbl)
	off := GP64()
	MOVQ(U64(lanes), off)
	SUBQ(rem, off)
	m := YMM()
	VMOVDQU(Mem{Base: tbl, Index: off, Scale: 4}, m)
	return m
}

// Coefficients fitted by Chebyshev interpolation and rounded to float32; the
// stated error includes that rounding.
var (
	// expQ: (e^r − 1 − r)/r² on |r| ≤ ln2/2, relative error 0.15 u.
	expQ = []uint32{0x3f000000, 0x3e2aaaab, 0x3d2aaa75, 0x3c088870, 0x3ab6a192, 0x39509279}
	// klQ: (e^x − 1 − x)/x² on −1 ≤ x ≤ 2, relative error 0.33 u.
	klQ = []uint32{0x3f000000, 0x3e2aaaad, 0x3d2aaaa8, 0x3c08878a, 0x3ab60eb9, 0x3950761f, 0x37ce07a0, 0x362da546, 0x34e7e74a}
	// log1pR: (atanh(s)/s − 1)/s² for s² ≤ 1/9, as in vecmath's Log1pUnitAVX2,
	// for the AVX-512 BCEWithLogits.
	log1pR = []uint32{0x3eaaaaa6, 0x3e4cd6b6, 0x3e10924d, 0x3e097acc}
)

// horner returns, for each x, c[0] + x·(c[1] + x·(…)) with the coefficients
// from memory, emitting each step for all xs before the next so that the
// independent chains overlap.
func horner(xs []reg.VecVirtual, c []uint32) []reg.VecVirtual {
	ps := make([]reg.VecVirtual, len(xs))
	for j := range xs {
		ps[j] = YMM()
		VMOVUPS(splat(c[len(c)-1]), ps[j])
	}
	for k := len(c) - 2; k >= 0; k-- {
		for j, x := range xs {
			VFMADD213PS(splat(c[k]), x, ps[j]) // p = x·p + c[k]
		}
	}
	return ps
}

const (
	magic  = 0x4b400000 // 1.5·2^23: adding it rounds to an integer kept in the low mantissa bits
	ln2Hi  = 0x3f317218 // float32(ln 2)
	ln2Lo  = 0xb102e308 // ln 2 − ln2Hi
	log2e  = 0x3fb8aa3b
	one    = 0x3f800000
	signBt = 0x80000000
)

// expParts holds e^x and the pieces of its computation that the kernels
// reuse: x = k·ln2 + r with k an integer (kf as float32) and |r| ≤ ln2/2,
// e^r = 1 + P. Where k = 0, P is e^x − 1 to full relative accuracy.
type expParts struct {
	s, r, p, kf reg.VecVirtual
}

// exp emits e^x for the 8 lanes of each x, within about 1 ULP, subnormal
// results included (correctly rounded from 1+P), +Inf above 88.72, 0 below
// −103.97, NaN for NaN. lo and hi are registers holding the clamp bounds −104
// and 89 (hi may be nil when x ≤ 0 is known). The xs are not modified. The
// vectors are computed step by step together: one exp is a chain of some 50
// cycles, and interleaving independent chains keeps the scheduler busy.
func exp(xs []reg.VecVirtual, lo, hi reg.VecVirtual) []expParts {
	n := len(xs)
	xc, t, kf, r := make([]reg.VecVirtual, n), make([]reg.VecVirtual, n), make([]reg.VecVirtual, n), make([]reg.VecVirtual, n)
	// Clamping keeps k within ±150 so the two-step scaling below stays in
	// range; the NaN operand goes first, where VMAXPS/VMINPS return it.
	for j, x := range xs {
		xc[j] = YMM()
		VMAXPS(x, lo, xc[j])
		if hi != nil {
			VMINPS(xc[j], hi, xc[j])
		}
	}
	for j := range xs {
		t[j] = YMM()
		VMOVUPS(splat(magic), t[j])
		VFMADD231PS(splat(log2e), xc[j], t[j]) // t = x·log2e + magic, rounded to an integer
	}
	for j := range xs {
		kf[j] = YMM()
		VSUBPS(splat(magic), t[j], kf[j])
	}
	for j := range xs {
		r[j] = xc[j]
		VFNMADD231PS(splat(ln2Hi), kf[j], r[j]) // r = x − k·ln2Hi
	}
	for j := range xs {
		VFNMADD231PS(splat(ln2Lo), kf[j], r[j]) // r −= k·ln2Lo
	}
	q := horner(r, expQ)
	parts := make([]expParts, n)
	for j := range xs {
		r2 := YMM()
		VMULPS(r[j], r[j], r2)
		VFMADD213PS(r[j], r2, q[j]) // P = r²·q + r
	}
	for j := range xs {
		p := YMM()
		VADDPS(splat(one), q[j], p)
		parts[j] = expParts{s: p, r: r[j], p: q[j], kf: kf[j]}
	}
	// 2^k = 2^n1·2^n2 with n1 = k>>1, n2 = k − n1, both within the normal
	// exponent range for |k| ≤ 150: p·2^n1 is exact and only the last
	// product rounds, once, also into the subnormals.
	for j := range xs {
		k := t[j]
		VPSUBD(splat(magic), k, k)
		n1 := YMM()
		VPSRAD(Imm(1), k, n1)
		VPSUBD(n1, k, k)
		VPSLLD(Imm(23), n1, n1)
		VPADDD(splat(127<<23), n1, n1)
		VPSLLD(Imm(23), k, k)
		VPADDD(splat(127<<23), k, k)
		VMULPS(n1, parts[j].s, parts[j].s)
		VMULPS(k, parts[j].s, parts[j].s)
	}
	return parts
}

// cvtAdd widens the 8 float32 lanes of x to float64 and adds them to the
// accumulators lo (lanes 0–3) and hi (lanes 4–7); with square set it adds
// their squares instead (exact products, one rounding each).
func cvtAdd(x reg.VecVirtual, lo, hi reg.VecVirtual, square bool) {
	xh := XMM()
	VEXTRACTF128(Imm(1), x, xh)
	a, b := YMM(), YMM()
	VCVTPS2PD(x.AsX(), a)
	VCVTPS2PD(xh, b)
	if square {
		VFMADD231PD(a, a, lo)
		VFMADD231PD(b, b, hi)
		return
	}
	VADDPD(a, lo, lo)
	VADDPD(b, hi, hi)
}
