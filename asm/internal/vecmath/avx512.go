package vecmath

import (
	"math"

	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The AVX-512F version of the method: a 16-entry table (one VPERMPS on a
// ZMM register) halves |r| to ln2/32, so that e^r = 1 + r·q with q of degree
// 2, and VSCALEFPS applies 2^(k>>4): it overflows to +Inf and rounds results
// in the subnormal range correctly. No range check and no slow path.
//
// q = 1 + c1·r + r²/6 where c1 = 1/2 + (√2−1)/12·a², a = ln2/32, balances
// the error r⁴/24 − (c1−1/2)·r² of the even terms over |r| ≤ a: it stays
// below 0.0072·a⁴ ≈ 2⁻³⁰, a sixth of the Taylor polynomial's.

// AVX512 emits the AVX-512F functions on ZMM registers (16 lanes). It keeps
// its 12 constants in ZMM registers, loaded by NewAVX512.
type AVX512 struct {
	magic, log2e, ln2Hi, ln2Lo, c2, c1, one, inv16, lo, hi, tabHi, tabRho reg.VecVirtual
}

// NewAVX512 loads the constants into ZMM registers: call it before a loop
// so that the loads stay out of it. The polynomial needs 5 more registers per
// vector at its peak.
func NewAVX512() *AVX512 {
	bcst := func(v float32) reg.VecVirtual {
		z := ZMM()
		VBROADCASTSS(avx.F32(v), z)
		return z
	}
	ln2Hi := float32(math.Ln2 / 16)
	a := math.Ln2 / 32
	e := &AVX512{
		magic: bcst(magic), log2e: bcst(float32(16 / math.Ln2)),
		ln2Hi: bcst(ln2Hi), ln2Lo: bcst(float32(math.Ln2/16 - float64(ln2Hi))),
		c2: bcst(1.0 / 6), c1: bcst(float32(0.5 + (math.Sqrt2-1)/12*a*a)), one: bcst(1), inv16: bcst(1.0 / 16),
		lo: bcst(clampLo), hi: bcst(clampHi),
		tabHi: ZMM(), tabRho: ZMM(),
	}
	hi, rho := expTable(16)
	VMOVUPS(avx.Table32("exp_tab16_hi", bits(hi)...), e.tabHi)
	VMOVUPS(avx.Table32("exp_tab16_rho", bits(rho)...), e.tabRho)
	return e
}

// Exp replaces every float32 lane of the ZMM registers xs by e^x, within
// 1 ULP of the correctly rounded value for every input (0.77 ULP measured
// over all 2³² inputs, 0.54 for normal results; subnormal results are
// rounded twice, never flushed). e^x = +Inf for x > 88.7228... and for
// +Inf, 0 for −Inf, NaN for NaN.
func (a *AVX512) Exp(xs []reg.VecVirtual) { a.exp(xs, false) }

// exp is Exp; nonPositive skips the clamp from above when no x exceeds 0.
func (a *AVX512) exp(xs []reg.VecVirtual, nonPositive bool) {
	hi := a.hi
	if nonPositive {
		hi = nil
	}
	clampTo(xs, a.lo, hi)
	_, ks, ys := expSteps(avx.ZMM, expConsts{a.magic, a.log2e, a.ln2Hi, a.ln2Lo,
		[]Op{a.c2, a.c1, a.one}, a.tabHi, a.tabRho}, xs) // q = 1 + c1·r + r²/6
	for i, x := range xs {
		VMULPS(a.inv16, ks[i], ks[i])
		VSCALEFPS(ks[i], ys[i], x) // y·2^floor(k/16), one rounding
	}
}

// Sigmoid replaces every float32 lane of the ZMM registers xs by
// σ(x) = 1/(1+e^-x), within 2 ULP (1.51 measured over all 2³² inputs), by the
// method of AVX2.Sigmoid. σ(+Inf) = 1, σ(−Inf) = 0, NaN gives NaN.
func (a *AVX512) Sigmoid(xs []reg.VecVirtual) {
	neg := make([]reg.OpmaskVirtual, len(xs))
	for i, x := range xs {
		neg[i] = K()
		VPTESTMD_BCST(avx.Splat(avx.SignBit), x, neg[i])
		VPORD_BCST(avx.Splat(avx.SignBit), x, x) // −|x|
	}
	a.exp(xs, true)
	for i, e := range xs {
		den, n, q := ZMM(), ZMM(), ZMM()
		VADDPS(a.one, e, den)
		VBLENDMPS(e, a.one, neg[i], n) // n = x < 0 ? e : 1
		VDIVPS(den, n, q)              // q = n/RN(1+e)
		VSUBPS(q, n, n)                // n − q
		VFNMADD231PS(e, q, n)          // residual n − q − q·e
		VFNMADD132PS_BCST(avx.F32(recipC), a.one, e)
		VFMADD213PS(q, n, e) // σ = residual·(1 − c·e) + q
	}
}
