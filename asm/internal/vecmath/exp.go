// Package vecmath emits vectorised float32 math functions for the avo
// generators of package kernels, so that every kernel family computes e^x
// (and what is built on it) with the same instructions and the same bits.
//
//   - AVX2 (YMM, AVX2+FMA3): Exp for every input, ExpInRange for
//     |x| ≤ InRangeMax with BranchIfOutOfRange to pick between them, Sigmoid,
//     NegAbs. NewAVX2(regs) keeps some constants in registers; the
//     package-level ExpAVX2 and friends keep them all in memory.
//   - AVX512 (ZMM, AVX-512F): Exp for every input, Sigmoid.
//
// The emitters work in place on lists of virtual vector registers and
// interleave their steps across the list, so that the latency of one
// register's dependency chain hides behind the others': pass as many registers
// as the kernel unrolls. They allocate their temporaries as virtual registers
// and take their constants from read-only data blocks that they add to the
// generated file on first use.
//
// They assume the Go runtime's MXCSR: round to nearest, no flush to zero, no
// denormals-are-zero, exceptions masked.
package vecmath

import (
	"math"
	"math/big"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The method: x = k·ln2/8 + r with k = round(x·8/ln2) and |r| ≤ ln2/16, so
// e^x = 2^(k>>3) · 2^((k&7)/8) · e^r. The table 2^(j/8) = hi_j·(1+rho_j) is
// looked up with VPERMPS (hi_j is the nearest float32, rho_j the relative
// rest), and e^r = 1 + r·q(r) with q the degree-3 Taylor polynomial of
// (e^r−1)/r, whose truncation error (r⁴/120·|r| < 2⁻²⁹) is negligible. The
// result hi·(1 + (r·q + rho)) is rounded once, by the last FMA, so the
// error stays near half an ULP; the power of two is exact. Measured over all
// 2³² inputs: see the kernels package's exhaustive test.

// InRangeMax bounds the inputs ExpInRangeAVX2 handles: for |x| ≤ InRangeMax
// the result and every intermediate power of two are normal float32 numbers.
const InRangeMax = 87.0

// Inputs are clamped to [clampLo, clampHi] by ExpAVX2: below clampLo e^x
// rounds to 0 (e^-103.972... is half the smallest subnormal), above clampHi
// it overflows to +Inf (the threshold is 88.7228...).
const (
	clampLo = -104.0
	clampHi = 89.0
)

// magic is 1.5·2^23: adding it to y with |y| < 2^22 rounds y to an integer
// k and leaves k in the low mantissa bits (its own low 3 bits are zero).
const magic = 0x1.8p23

// expData is the AVX2 data block. Each constant fills 32 bytes (8 lanes), so
// that VEX instructions can take it as a memory operand; the off constants
// are their offsets.
type expData struct {
	base Mem
}

const (
	offLog2E8    = 32 * iota // 8/ln2
	offMagic                 // magic
	offLn2Hi                 // ln2/8, the float32 nearest it
	offLn2Lo                 // ln2/8 − offLn2Hi
	offC3                    // 1/24
	offC2                    // 1/6
	offC1                    // 1/2
	offOne                   // 1
	offTabHi                 // hi_j, j = 0..7
	offTabRho                // rho_j
	offAbsMask               // 0x7fffffff
	offSignMask              // 0x80000000
	offInRange               // bits of InRangeMax
	offClampLo               // clampLo
	offClampHi               // clampHi
	offScaleBias             // (bits(magic) >> 3) − 254, see ExpAVX2
	offRecipC                // c in 1 − c·e ≈ 1/(1+e) for e in [0, 1], see Sigmoid
	offTailMask              // 8×int32 −1 then 8×int32 0: see TailMaskAVX2
	expDataSize  = offTailMask + 64
)

var data *expData

// consts returns the data block, adding it to the generated file on first use.
func consts() *expData {
	if data != nil {
		return data
	}
	d := &expData{base: GLOBL("vecmath_exp", RODATA|NOPTR)}
	f32 := func(off int, vs ...float32) {
		for i := range 8 {
			DATA(off+4*i, U32(math.Float32bits(vs[i%len(vs)])))
		}
	}
	u32 := func(off int, v uint32) {
		for i := range 8 {
			DATA(off+4*i, U32(v))
		}
	}
	hi, rho := expTable(8)
	f32(offLog2E8, float32(8/math.Ln2))
	f32(offMagic, magic)
	ln2Hi := float32(math.Ln2 / 8)
	f32(offLn2Hi, ln2Hi)
	f32(offLn2Lo, float32(math.Ln2/8-float64(ln2Hi)))
	f32(offC3, 1.0/24)
	f32(offC2, 1.0/6)
	f32(offC1, 0.5)
	f32(offOne, 1)
	f32(offTabHi, hi...)
	f32(offTabRho, rho...)
	u32(offAbsMask, 0x7fffffff)
	u32(offSignMask, 0x80000000)
	u32(offInRange, math.Float32bits(InRangeMax))
	f32(offClampLo, clampLo)
	f32(offClampHi, clampHi)
	u32(offScaleBias, math.Float32bits(magic)>>3-254)
	f32(offRecipC, recipC)
	for i := range 16 {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(offTailMask+4*i, U32(v))
	}
	data = d
	return d
}

func (d *expData) at(off int) Mem { return d.base.Offset(off) }

// expTable returns hi_j, the float32 nearest 2^(j/n), and rho_j, the float32
// nearest 2^(j/n)/hi_j − 1, for j < n = 2^m, computed in 200-bit arithmetic.
func expTable(n int) (hi, rho []float32) {
	const prec = 200
	root := new(big.Float).SetPrec(prec).SetInt64(2)
	for i := 1; i < n; i *= 2 {
		root.Sqrt(root) // 2^(1/n) after log2(n) square roots
	}
	t := new(big.Float).SetPrec(prec).SetInt64(1)
	hi, rho = make([]float32, n), make([]float32, n)
	for j := range n {
		hi[j], _ = t.Float32()
		h := new(big.Float).SetPrec(prec).SetFloat64(float64(hi[j]))
		r := new(big.Float).SetPrec(prec).Quo(t, h)
		r.Sub(r, big.NewFloat(1))
		rho[j], _ = r.Float32()
		t.Mul(t, root)
	}
	return hi, rho
}

// recipC is c in 1 − c·e ≈ 1/(1+e), the factor of the sigmoid's correction.
// The relative error of 1 − c·e on e in [0, 1] is e(1−c) − c·e²;
// c = (1+√8)/7 balances its extremes at e = (1−c)/(2c) and e = 1 at
// 2c−1 = 0.094.
var recipC = float32((1 + math.Sqrt(8)) / 7)

// AVX2 emits the AVX2+FMA3 functions. Its constants are memory operands in
// the data block, except those NewAVX2 keeps in registers.
type AVX2 struct {
	c [numConsts]Op // by index of hoisted
}

// hoisted lists the constants worth keeping in registers, most used first.
var hoisted = [...]int{offMagic, offLog2E8, offLn2Hi, offLn2Lo, offC2, offC1, offOne, offC3, offTabHi, offTabRho}

const numConsts = len(hoisted)

// MaxRegs is the most constants NewAVX2 can keep in registers.
const MaxRegs = numConsts

// NewAVX2 returns an emitter that keeps its regs most used constants
// (0 ≤ regs ≤ MaxRegs) in YMM registers, loaded by code emitted here: call it
// before a loop so that the loads stay out of it. Each constant in a register
// saves one load per vector; the polynomial needs 4 registers per vector, so
// a loop of u vectors can afford 16 − 4u (minus what it needs itself).
func NewAVX2(regs int) *AVX2 {
	d := consts()
	a := &AVX2{}
	for i, off := range hoisted {
		if i < regs {
			r := YMM()
			VMOVUPS(d.at(off), r)
			a.c[i] = r
		} else {
			a.c[i] = d.at(off)
		}
	}
	return a
}

// k returns the operand of the constant at offset off.
func (a *AVX2) k(off int) Op {
	for i, o := range hoisted {
		if o == off {
			return a.c[i]
		}
	}
	return consts().at(off)
}

// ExpInRange replaces every float32 lane of the YMM registers xs by e^x,
// within 1 ULP of the correctly rounded value, for lanes with
// |x| ≤ InRangeMax. Other lanes (±Inf, NaN, large |x|) get meaningless
// values: use BranchIfOutOfRange to route them to Exp. For the same x both
// emitters give the same bits. It needs 4 registers per vector at its peak.
func (a *AVX2) ExpInRange(xs []reg.VecVirtual) {
	ts, ys := a.expCore(xs)
	for i, t := range ts {
		// t's integer bits are bits(magic) + k; k>>3 moved to the exponent
		// field is exact scaling by 2^(k>>3) while the result stays normal.
		VPSRLD(Imm(3), t, t)
		VPSLLD(Imm(23), t, t)
		VPADDD(t, ys[i], xs[i])
	}
}

// Exp replaces every float32 lane of the YMM registers xs by e^x, within
// 1 ULP of the correctly rounded value for every input (0.79 ULP measured
// over all 2³² inputs, 0.57 for normal results; results in the subnormal
// range are rounded twice but never flushed to zero). e^x = +Inf for
// x > 88.7228... and for +Inf, 0 for −Inf, NaN for NaN.
// It costs about eight instructions per vector more than ExpInRange.
func (a *AVX2) Exp(xs []reg.VecVirtual) {
	d := consts()
	lo, hi := YMM(), YMM()
	VMOVUPS(d.at(offClampLo), lo)
	VMOVUPS(d.at(offClampHi), hi)
	for _, x := range xs {
		// With x as the second source, VMAXPS and VMINPS return it when it
		// is NaN, so NaN survives the clamp.
		VMAXPS(x, lo, x)
		VMINPS(x, hi, x)
	}
	ts, ys := a.expCore(xs)
	hs := make([]reg.VecVirtual, len(xs))
	for i, t := range ts {
		// m = (k>>3) + 254 lies in [104, 382]: split 2^(k>>3) into two
		// normal factors 2^(h−127) and 2^(m−h−127), h = m>>1. Only the
		// second product rounds: to a subnormal or infinite result.
		VPSRLD(Imm(3), t, t)
		VPSUBD(d.at(offScaleBias), t, t)
		hs[i] = YMM()
		VPSRLD(Imm(1), t, hs[i])
		VPSUBD(hs[i], t, t)
		VPSLLD(Imm(23), hs[i], hs[i])
		VPSLLD(Imm(23), t, t)
	}
	for i, t := range ts {
		VMULPS(hs[i], ys[i], ys[i])
		VMULPS(t, ys[i], xs[i])
	}
}

// expCore computes, for each x (which it overwrites), t with k in its low
// bits and y = 2^((k&7)/8)·e^r, so that e^x = y·2^(k>>3).
func (a *AVX2) expCore(xs []reg.VecVirtual) (ts, ys []reg.VecVirtual) {
	n := len(xs)
	ts, ys = make([]reg.VecVirtual, n), make([]reg.VecVirtual, n)
	ks, qs := make([]reg.VecVirtual, n), make([]reg.VecVirtual, n)
	magic := a.k(offMagic)
	for i, x := range xs {
		ts[i] = YMM()
		if r, ok := magic.(reg.Register); ok {
			VMOVAPS(r, ts[i])
			VFMADD231PS(a.k(offLog2E8), x, ts[i]) // t = x·8/ln2 + magic
		} else {
			VMOVUPS(a.k(offLog2E8), ts[i])
			VFMADD213PS(magic, x, ts[i])
		}
	}
	for i := range xs {
		ks[i] = YMM()
		VSUBPS(magic, ts[i], ks[i]) // k as a float, exactly
	}
	// r = x − k·ln2/8 in two steps: the first is exact.
	for i, x := range xs {
		VFNMADD231PS(a.k(offLn2Hi), ks[i], x)
	}
	for i, x := range xs {
		VFNMADD231PS(a.k(offLn2Lo), ks[i], x)
	}
	for i, r := range xs { // q = 1 + r/2 + r²/6 + r³/24
		qs[i] = YMM()
		VMOVUPS(a.k(offC3), qs[i])
		VFMADD213PS(a.k(offC2), r, qs[i])
	}
	for i, r := range xs {
		VFMADD213PS(a.k(offC1), r, qs[i])
	}
	for i, r := range xs {
		VFMADD213PS(a.k(offOne), r, qs[i])
	}
	for i, r := range xs {
		// VPERMPS reads only the low 3 bits of each index: j = k&7.
		ys[i] = YMM()
		VPERMPS(a.k(offTabRho), ts[i], ys[i])
		VFMADD231PS(qs[i], r, ys[i]) // v = r·q + rho_j
	}
	for i, r := range xs {
		VPERMPS(a.k(offTabHi), ts[i], r)
		VFMADD213PS(r, r, ys[i]) // y = hi_j·v + hi_j, the one rounding
	}
	return ts, ys
}

// BranchIfOutOfRange emits a jump to label, taken when any float32 lane of
// the 256-bit operands xs (registers or memory) is outside
// [−InRangeMax, InRangeMax] or NaN, so that ExpInRange would not handle it.
// It compares the magnitudes' bits as integers, which orders them as floats
// and puts NaN above every number.
func (a *AVX2) BranchIfOutOfRange(label string, xs ...Op) {
	d := consts()
	acc := YMM()
	for i, x := range xs {
		if i == 0 {
			VPAND(d.at(offAbsMask), x, acc)
			continue
		}
		m := YMM()
		VPAND(d.at(offAbsMask), x, m)
		VPMAXUD(m, acc, acc)
	}
	VPCMPGTD(d.at(offInRange), acc, acc)
	VPTEST(acc, acc)
	JNZ(LabelRef(label))
}

// NegAbs replaces every lane of the YMM registers xs by −|x| (NaN stays
// NaN): the argument of e^x that logistic functions need.
func (a *AVX2) NegAbs(xs []reg.VecVirtual) {
	d := consts()
	for _, x := range xs {
		VORPS(d.at(offSignMask), x, x)
	}
}

// Sigmoid replaces every float32 lane of the YMM registers xs by the
// logistic function σ(x) = 1/(1+e^-x), within 2 ULP (1.48 measured over all
// 2³² inputs) of the correctly rounded value. σ(+Inf) = 1, σ(−Inf) = 0, NaN
// gives NaN. signs[i] holds the original values of xs[i] (a register, or a
// memory operand the kernel may read again); only their sign bits are used.
// inRange selects ExpInRange, valid when every |x| ≤ InRangeMax.
//
// With e = e^-|x|, which never overflows, σ(x) = n/(1+e) where n = 1 for
// x ≥ 0 and n = e for x < 0, so that results in the subnormal range
// (x < −87.3) stay accurate. Rounding 1+e to float32 would alone cost up to
// 1 ULP of a small σ, so the quotient q = n/RN(1+e) is corrected by its
// residual n − q − q·e (n − q is exact, the FMA rounds once):
// σ = q + (n − q − q·e)·w with w = 1 − c·e within 9.4% of 1/(1+e), enough
// for a correction of about an ULP.
func (a *AVX2) Sigmoid(xs []reg.VecVirtual, signs []Op, inRange bool) {
	d := consts()
	a.NegAbs(xs)
	if inRange {
		a.ExpInRange(xs)
	} else {
		a.Exp(xs)
	}
	one, ok := a.k(offOne).(reg.Register)
	if !ok {
		one = YMM()
		VMOVUPS(a.k(offOne), one)
	}
	for i, e := range xs {
		s, ok := signs[i].(reg.Register)
		if !ok {
			s = YMM()
			VMOVUPS(signs[i], s)
		}
		den, n, q := YMM(), YMM(), YMM()
		VADDPS(one, e, den)
		VBLENDVPS(s, e, one, n)               // n = x < 0 ? e : 1
		VDIVPS(den, n, q)                     // q = n/RN(1+e)
		VSUBPS(q, n, n)                       // n − q
		VFNMADD231PS(e, q, n)                 // residual n − q − q·e
		VFNMADD132PS(d.at(offRecipC), one, e) // w = 1 − c·e
		VFMADD213PS(q, n, e)                  // σ = residual·w + q
	}
}

// ExpInRangeAVX2 is NewAVX2(0).ExpInRange(xs).
func ExpInRangeAVX2(xs []reg.VecVirtual) { NewAVX2(0).ExpInRange(xs) }

// ExpAVX2 is NewAVX2(0).Exp(xs).
func ExpAVX2(xs []reg.VecVirtual) { NewAVX2(0).Exp(xs) }

// SigmoidAVX2 is NewAVX2(0).Sigmoid(xs, signs, inRange).
func SigmoidAVX2(xs []reg.VecVirtual, signs []Op, inRange bool) {
	NewAVX2(0).Sigmoid(xs, signs, inRange)
}

// BranchIfOutOfRangeAVX2 is NewAVX2(0).BranchIfOutOfRange(label, xs...).
func BranchIfOutOfRangeAVX2(label string, xs ...Op) { NewAVX2(0).BranchIfOutOfRange(label, xs...) }

// NegAbsAVX2 is NewAVX2(0).NegAbs(xs).
func NegAbsAVX2(xs []reg.VecVirtual) { NewAVX2(0).NegAbs(xs) }

// TailMaskAVX2 loads into mask the VMASKMOVPS mask that selects the first rem
// lanes of a YMM register, for 0 ≤ rem ≤ 8 in the general-purpose register
// rem, which it leaves unchanged.
func TailMaskAVX2(mask reg.VecVirtual, rem reg.GPVirtual) {
	d := consts()
	base, neg := GP64(), GP64()
	LEAQ(d.at(offTailMask+32), base) // the first of the eight zeros
	MOVQ(rem, neg)
	NEGQ(neg)
	VMOVDQU(Mem{Base: base, Index: neg, Scale: 4}, mask)
}
