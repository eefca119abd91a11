package main

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	"github.com/fastvae/fastvae/asm/internal/vecmath"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// ReparamKL: the reparameterisation z = mu + eps·e^(logvar/2) and the KL
// divergence ½Σ(mu² + e^logvar − 1 − logvar), for AVX2 and AVX-512F.
//
// The per-element term is mu² + h with h = e^lv − 1 − lv. Where −1 < lv < 2
// (|lv − 0.5| < 1.5) h = lv²·Q(lv), free of the cancellation of e^lv − 1 − lv
// near 0. Elsewhere h = s² − (1 + lv), with s² = e^lv squared exactly in
// float64 (so no overflow below lv = 177), and the cancellation bounded by
// e^lv/h ≤ 1.7. Masked-off lanes load 0: mu = logvar = 0 adds a zero term.
// Every input is loaded before z is stored: z may alias any of them.

// klQ is (e^x − 1 − x)/x² on −1 ≤ x ≤ 2, fitted by Chebyshev interpolation
// and rounded to float32: relative error 0.33 u, that rounding included.
var klQ = []uint32{0x3f000000, 0x3e2aaaad, 0x3d2aaaa8, 0x3c08878a, 0x3ab60eb9, 0x3950761f, 0x37ce07a0,
	0x362da546, 0x34e7e74a}

func reparamKL(w avx.Width) {
	kernel("reparamKL", w, "func(z, mu, logvar, eps []float32) float64",
		"sets z = mu + eps·exp(logvar/2) and returns ½Σ(mu² + e^logvar − 1 − logvar), "+
			"accumulated in float64. The lengths are equal.")
	p, n := avx.Slices("z", "mu", "logvar", "eps")
	z, mu, logvar, eps := p[0], p[1], p[2], p[3]
	acc := zeroed(w, 2) // float64 sums of the terms' low and high halves
	body := klStepAVX2
	if w == avx.ZMM {
		body = klStep512
	}
	avx.Loop{Name: "kl" + suffix(w), N: n, Width: w, Unroll: unrollFor(w)}.Emit(body(z, mu, logvar, eps, acc))
	returnHalf(reducePair(w, acc[0], acc[1]))
}

func klStepAVX2(z, mu, logvar, eps reg.Register, acc []reg.VecVirtual) func(avx.Step) {
	ex := vecmath.NewAVX2(0)
	return func(s avx.Step) {
		u := len(s.Offs)
		lv := s.Load(logvar)
		sv := s.Regs()
		each(u, func(j int) { VMULPS(avx.F32(0.5), lv[j], sv[j]) })
		ex.ExpBranched(s.Label("s"), sv) // s = e^(logvar/2), the exp every kernel family shares
		q := avx.Horner(avx.YMM, lv, klQ)
		a := s.Regs()
		each(u, func(j int) {
			VMULPS(lv[j], lv[j], a[j])
			VMULPS(a[j], q[j], q[j]) // h inside
		})
		inside := s.Regs()
		each(u, func(j int) {
			VSUBPS(avx.F32(0.5), lv[j], inside[j])
			VANDPS(avx.Splat(avx.AbsMask), inside[j], inside[j])
			VCMPPS(Imm(avx.CmpLTOQ), avx.F32(1.5), inside[j], inside[j]) // |lv−0.5| < 1.5, false for NaN
		})
		each(u, func(j int) {
			VADDPS(avx.F32(1), lv[j], a[j])
			VMINPS(avx.F32(201), a[j], a[j])           // keeps +Inf − Inf out at logvar = +Inf
			VXORPS(avx.Splat(avx.SignBit), a[j], a[j]) // −(1 + lv)
			VBLENDVPS(inside[j], q[j], a[j], a[j])
		})
		m := s.Load(mu)
		each(u, func(j int) {
			VFMADD231PS(m[j], m[j], a[j])        // + mu²
			VANDNPS(sv[j], inside[j], inside[j]) // inside ? 0 : s
		})
		each(u, func(j int) {
			cvtAdd(avx.YMM, a[j], acc[0], acc[1], false)
			cvtAdd(avx.YMM, inside[j], acc[0], acc[1], true)
		})
		e := s.Load(eps)
		each(u, func(j int) { VFMADD213PS(m[j], sv[j], e[j]) }) // z = s·eps + mu
		s.Store(e, z)
	}
}

func klStep512(z, mu, logvar, eps reg.Register, acc []reg.VecVirtual) func(avx.Step) {
	ex := vecmath.NewAVX512()
	zero := ZMM()
	VPXORD(zero, zero, zero)
	return func(s avx.Step) {
		u := len(s.Offs)
		lv := s.Load(logvar)
		sv := s.Regs()
		each(u, func(j int) { VMULPS_BCST(avx.F32(0.5), lv[j], sv[j]) })
		exp512(ex, sv) // s = e^(logvar/2)
		y := s.Regs()
		q := avx.Horner(avx.ZMM, lv, klQ)
		a := s.Regs()
		each(u, func(j int) {
			VMULPS(lv[j], lv[j], a[j])
			VMULPS(a[j], q[j], q[j]) // h inside
		})
		in := make([]reg.OpmaskVirtual, u)
		each(u, func(j int) {
			VSUBPS_BCST(avx.F32(0.5), lv[j], y[j])
			VPANDD_BCST(avx.Splat(avx.AbsMask), y[j], y[j])
			in[j] = K()
			VCMPPS_BCST(Imm(avx.CmpLTOQ), avx.F32(1.5), y[j], in[j]) // |lv−0.5| < 1.5, false for NaN
		})
		each(u, func(j int) {
			VADDPS_BCST(avx.F32(1), lv[j], a[j])
			VMINPS_BCST(avx.F32(201), a[j], a[j])
			VPXORD_BCST(avx.Splat(avx.SignBit), a[j], a[j]) // −(1 + lv)
			VBLENDMPS(q[j], a[j], in[j], a[j])              // inside ? h : −(1+lv)
		})
		m := s.Load(mu)
		each(u, func(j int) {
			VFMADD231PS(m[j], m[j], a[j]) // + mu²
			VMOVUPS(sv[j], y[j])
			VMOVUPS(zero, in[j], y[j]) // inside ? 0 : s
			cvtAdd(avx.ZMM, a[j], acc[0], acc[1], false)
			cvtAdd(avx.ZMM, y[j], acc[0], acc[1], true)
		})
		e := s.Load(eps)
		each(u, func(j int) { VFMADD213PS(m[j], sv[j], e[j]) }) // z = s·eps + mu
		s.Store(e, z)
	}
}

// exp512 replaces the lanes of xs by e^x with ex's Exp, two vectors at a
// time: the 12 constants ex keeps in registers and the 5 registers per
// vector of its peak leave too few of the 32 for more in the kernels' loops,
// and the out-of-order core overlaps the independent halves anyway.
func exp512(ex *vecmath.AVX512, xs []reg.VecVirtual) {
	for h := 0; h < len(xs); h += 2 {
		ex.Exp(xs[h:min(h+2, len(xs))])
	}
}
