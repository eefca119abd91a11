// Package vecmath emits vectorised float32 math functions for the avo
// generators of package kernels, so that every kernel family computes e^x
// (and what is built on it) with the same instructions and the same bits.
//
//   - AVX2 (YMM, AVX2+FMA3): Exp for every input, ExpInRange for
//     |x| ≤ InRangeMax, ExpBranched to pick between them at run time
//     (BranchIfOutOfRange), Sigmoid, NegAbs; NewAVX2(regs) keeps some
//     constants in registers.
//   - AVX512 (ZMM, AVX-512F): Exp for every input, Sigmoid.
//   - Both widths: ExpExpm1 (e^x with e^x − 1 accurate near 0, as
//     ExpExpm1AVX2 and ExpExpm1AVX512) and Log1pUnit (ln(1+e) for e in
//     [0, 1]).
//
// The emitters work in place on lists of virtual vector registers and
// interleave their steps across the list, so that the latency of one
// register's dependency chain hides behind the others': pass as many registers
// as the kernel unrolls. They allocate their temporaries as virtual registers
// and take their constants from the constant pool of package avx.
//
// They assume the Go runtime's MXCSR: round to nearest, no flush to zero, no
// denormals-are-zero, exceptions masked.
package vecmath

import (
	"math"
	"math/big"

	"github.com/fastvae/fastvae/asm/internal/avx"
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

// InRangeMax bounds the inputs ExpInRange handles: for |x| ≤ InRangeMax
// the result and every intermediate power of two are normal float32 numbers.
const InRangeMax = 87.0

// Inputs are clamped to [clampLo, clampHi] by Exp: below clampLo e^x
// rounds to 0 (e^-103.972... is half the smallest subnormal), above clampHi
// it overflows to +Inf (the threshold is 88.7228...).
const (
	clampLo = -104.0
	clampHi = 89.0
)

// magic is 1.5·2^23: adding it to y with |y| < 2^22 rounds y to an integer
// k and leaves k in the low mantissa bits (its own low 3 bits are zero).
const magic = 0x1.8p23

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

// AVX2 emits the AVX2+FMA3 functions. Its constants are operands from the
// constant pool, except those NewAVX2 keeps in registers.
type AVX2 struct {
	magic, log2e, ln2Hi, ln2Lo, c3, c2, c1, one, tabHi, tabRho Op
}

// NewAVX2 returns an emitter that keeps its regs most used constants
// (0 ≤ regs ≤ 10) in YMM registers, loaded by code emitted here: call it
// before a loop so that the loads stay out of it. Each constant in a register
// saves one load per vector; the polynomial needs 4 registers per vector, so
// a loop of u vectors can afford 16 − 4u (minus what it needs itself).
func NewAVX2(regs int) *AVX2 {
	hi, rho := expTable(8)
	ln2Hi := float32(math.Ln2 / 8)
	a := &AVX2{
		magic: avx.F32(magic), log2e: avx.F32(float32(8 / math.Ln2)),
		ln2Hi: avx.F32(ln2Hi), ln2Lo: avx.F32(float32(math.Ln2/8 - float64(ln2Hi))),
		c3: avx.F32(1.0 / 24), c2: avx.F32(1.0 / 6), c1: avx.F32(0.5), one: avx.F32(1),
		tabHi: avx.Table32("exp_tab8_hi", bits(hi)...), tabRho: avx.Table32("exp_tab8_rho", bits(rho)...),
	}
	// Most used first.
	for _, c := range []*Op{&a.magic, &a.log2e, &a.ln2Hi, &a.ln2Lo, &a.c2, &a.c1, &a.one, &a.c3, &a.tabHi, &a.tabRho}[:regs] {
		r := YMM()
		VMOVUPS(*c, r)
		*c = r
	}
	return a
}

// bits returns the bit patterns of vs.
func bits(vs []float32) []uint32 {
	b := make([]uint32, len(vs))
	for i, v := range vs {
		b[i] = math.Float32bits(v)
	}
	return b
}

// clamp limits every lane of the registers xs of width w to [clampLo,
// clampHi], loading the bounds into registers.
func clamp(w avx.Width, xs []reg.VecVirtual) {
	lo, hi := w.Reg(), w.Reg()
	w.SetConst(avx.F32(clampLo), lo)
	w.SetConst(avx.F32(clampHi), hi)
	clampTo(xs, lo, hi)
}

// clampTo limits every lane of xs to [lo, hi], or only from below when hi
// is nil. With x as the second source, VMAXPS and VMINPS return it when it
// is NaN, so NaN survives the clamp.
func clampTo(xs []reg.VecVirtual, lo, hi reg.VecVirtual) {
	for _, x := range xs {
		VMAXPS(x, lo, x)
		if hi != nil {
			VMINPS(x, hi, x)
		}
	}
}

// reduce replaces each x by r = x − k·(hi + lo), with k the float integer
// in ks and hi + lo a constant split so that k·hi is exact: the first step
// is exact and r keeps the constant's full precision.
func reduce(w avx.Width, xs, ks []reg.VecVirtual, hi, lo Op) {
	for i, x := range xs {
		w.VFNMADD231PS(hi, ks[i], x)
	}
	for i, x := range xs {
		w.VFNMADD231PS(lo, ks[i], x)
	}
}

// ExpInRange replaces every float32 lane of the YMM registers xs by e^x,
// within 1 ULP of the correctly rounded value, for lanes with
// |x| ≤ InRangeMax. Other lanes (±Inf, NaN, large |x|) get meaningless
// values: ExpBranched routes them to Exp. For the same x both emitters give
// the same bits. It needs 4 registers per vector at its peak.
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
	clamp(avx.YMM, xs)
	ts, ys := a.expCore(xs)
	hs := make([]reg.VecVirtual, len(xs))
	for i, t := range ts {
		// m = (k>>3) + 254 lies in [104, 382]: split 2^(k>>3) into two
		// normal factors 2^(h−127) and 2^(m−h−127), h = m>>1. Only the
		// second product rounds: to a subnormal or infinite result.
		VPSRLD(Imm(3), t, t)
		VPSUBD(avx.Splat(math.Float32bits(magic)>>3-254), t, t)
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

// ExpBranched is Exp, taking ExpInRange's cheaper path (no clamp, one-step
// scaling: the same bits) when every lane of xs has |x| ≤ InRangeMax, as
// nearly all do in training. Its labels start with prefix.
func (a *AVX2) ExpBranched(prefix string, xs []reg.VecVirtual) {
	ops := make([]Op, len(xs))
	for j, x := range xs {
		ops[j] = x
	}
	a.BranchIfOutOfRange(prefix+"_exp_slow", ops...)
	a.ExpInRange(xs)
	JMP(LabelRef(prefix + "_exp_join"))
	Label(prefix + "_exp_slow")
	a.Exp(xs)
	Label(prefix + "_exp_join")
}

// expCore computes, for each x (which it overwrites), t with k in its low
// bits and y = 2^((k&7)/8)·e^r, so that e^x = y·2^(k>>3).
func (a *AVX2) expCore(xs []reg.VecVirtual) (ts, ys []reg.VecVirtual) {
	ts, _, ys = expSteps(avx.YMM, expConsts{a.magic, a.log2e, a.ln2Hi, a.ln2Lo,
		[]Op{a.c3, a.c2, a.c1, a.one}, a.tabHi, a.tabRho}, xs)
	return ts, ys
}

// expConsts are the constants of the method for a table of 2^m entries,
// registers or pool operands: magic, 2^m/ln2, ln2/2^m split in two, q's
// coefficients from the highest degree down, and the table.
type expConsts struct {
	magic, log2e, ln2Hi, ln2Lo Op
	q                          []Op
	tabHi, tabRho              Op
}

// expSteps are the steps of the method that both widths take: for each x
// (which it overwrites) it returns t, with k in its low bits, k as a float,
// and y = 2^((k mod 2^m)/2^m)·e^r, so that e^x = y·2^(k div 2^m).
func expSteps(w avx.Width, c expConsts, xs []reg.VecVirtual) (ts, ks, ys []reg.VecVirtual) {
	n := len(xs)
	ts, ks, ys = make([]reg.VecVirtual, n), make([]reg.VecVirtual, n), make([]reg.VecVirtual, n)
	qs := make([]reg.VecVirtual, n)
	for i, x := range xs {
		ts[i] = w.Reg()
		if r, ok := c.magic.(reg.Register); ok {
			VMOVAPS(r, ts[i])
			VFMADD231PS(c.log2e, x, ts[i]) // t = x·2^m/ln2 + magic
		} else {
			VMOVUPS(c.log2e, ts[i])
			VFMADD213PS(c.magic, x, ts[i])
		}
	}
	for i := range xs {
		ks[i] = w.Reg()
		VSUBPS(c.magic, ts[i], ks[i]) // k as a float, exactly
	}
	reduce(w, xs, ks, c.ln2Hi, c.ln2Lo) // r = x − k·ln2/2^m
	for i, r := range xs {
		qs[i] = w.Reg()
		w.SetConst(c.q[0], qs[i])
		w.VFMADD213PS(c.q[1], r, qs[i])
	}
	for _, ck := range c.q[2:] {
		for i, r := range xs {
			w.VFMADD213PS(ck, r, qs[i])
		}
	}
	for i, r := range xs {
		// VPERMPS reads only the low m bits of each index: j = k mod 2^m.
		ys[i] = w.Reg()
		VPERMPS(c.tabRho, ts[i], ys[i])
		VFMADD231PS(qs[i], r, ys[i]) // v = r·q + rho_j
	}
	for i, r := range xs {
		VPERMPS(c.tabHi, ts[i], r)
		VFMADD213PS(r, r, ys[i]) // y = hi_j·v + hi_j, the one rounding
	}
	return ts, ks, ys
}

// BranchIfOutOfRange emits a jump to label, taken when any float32 lane of
// the 256-bit operands xs (registers or memory) is outside
// [−InRangeMax, InRangeMax] or NaN, so that ExpInRange would not handle it.
// It compares the magnitudes' bits as integers, which orders them as floats
// and puts NaN above every number.
func (a *AVX2) BranchIfOutOfRange(label string, xs ...Op) {
	acc := YMM()
	for i, x := range xs {
		if i == 0 {
			VPAND(avx.Splat(avx.AbsMask), x, acc)
			continue
		}
		m := YMM()
		VPAND(avx.Splat(avx.AbsMask), x, m)
		VPMAXUD(m, acc, acc)
	}
	VPCMPGTD(avx.Splat(math.Float32bits(InRangeMax)), acc, acc)
	VPTEST(acc, acc)
	JNZ(LabelRef(label))
}

// NegAbs replaces every lane of the YMM registers xs by −|x| (NaN stays
// NaN): the argument of e^x that logistic functions need.
func (a *AVX2) NegAbs(xs []reg.VecVirtual) {
	for _, x := range xs {
		VORPS(avx.Splat(avx.SignBit), x, x)
	}
}

// Sigmoid replaces every float32 lane of the YMM registers xs by the
// logistic function σ(x) = 1/(1+e^-x), within 2 ULP (1.48 measured over all
// 2³² inputs) of the correctly rounded value. σ(+Inf) = 1, σ(−Inf) = 0, NaN
// gives NaN. signs[i] holds the original values of xs[i] (a register, or a
// memory operand the kernel may read again); only their sign bits are used.
// It takes e^x from ExpBranched, with labels starting with prefix.
//
// With e = e^-|x|, which never overflows, σ(x) = n/(1+e) where n = 1 for
// x ≥ 0 and n = e for x < 0, so that results in the subnormal range
// (x < −87.3) stay accurate. Rounding 1+e to float32 would alone cost up to
// 1 ULP of a small σ, so the quotient q = n/RN(1+e) is corrected by its
// residual n − q − q·e (n − q is exact, the FMA rounds once):
// σ = q + (n − q − q·e)·w with w = 1 − c·e within 9.4% of 1/(1+e), enough
// for a correction of about an ULP.
func (a *AVX2) Sigmoid(prefix string, xs []reg.VecVirtual, signs []Op) {
	a.NegAbs(xs)
	a.ExpBranched(prefix, xs)
	one, ok := a.one.(reg.Register)
	if !ok {
		one = YMM()
		VMOVUPS(a.one, one)
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
		VFNMADD132PS(avx.F32(recipC), one, e) // w = 1 − c·e
		VFMADD213PS(q, n, e)                  // σ = residual·w + q
	}
}
