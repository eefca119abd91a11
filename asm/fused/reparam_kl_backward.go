package main

import (
	"slices"

	"github.com/fastvae/fastvae/asm/internal/avx"
	"github.com/fastvae/fastvae/asm/internal/vecmath"
	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/reg"
)

// ReparamKLBackward: the gradients of f(z) + beta·KL with respect to mu and
// logvar, dmu = dz + beta·mu and dlogvar = ½·dz·eps·s + ½·beta·(s² − 1) with
// s = e^(logvar/2), for AVX2 and AVX-512F. e^lv − 1 is (s − 1)(s + 1), with
// s − 1 from vecmath's ExpExpm1, without cancellation near lv = 0. Every
// input is loaded before either output is stored: each output may alias any
// one input.

func reparamKLBackward(w avx.Width) {
	kernel("reparamKLBackward", w, "func(dmu, dlogvar, dz, mu, logvar, eps []float32, beta float32)",
		"sets dmu = dz + beta·mu and dlogvar = ½·dz·eps·s + ½·beta·(s² − 1) with s = exp(logvar/2). "+
			"The lengths are equal.")
	p, n := avx.Slices("dz", "dmu", "dlogvar", "mu", "logvar", "eps")
	io := klbSlices{dz: p[0], dmu: p[1], dlv: p[2], mu: p[3], logvar: p[4], eps: p[5]}
	body := klbStepAVX2
	if w == avx.ZMM {
		body = klbStep512
	}
	avx.Loop{Name: "klb" + suffix(w), N: n, Width: w, Unroll: unrollFor(w)}.Emit(body(io))
	VZEROUPPER()
	RET()
}

// klbSlices are the kernel's slices.
type klbSlices struct{ dz, dmu, dlv, mu, logvar, eps reg.Register }

func klbStepAVX2(p klbSlices) func(avx.Step) {
	return func(s avx.Step) {
		u := len(s.Offs)
		sv := s.Load(p.logvar)
		each(u, func(j int) { VMULPS(avx.F32(0.5), sv[j], sv[j]) })
		sm1 := vecmath.ExpExpm1AVX2(sv) // s = e^(logvar/2)
		k0 := s.Regs()
		each(u, func(j int) {
			VADDPS(avx.F32(1), sv[j], k0[j])
			VMULPS(k0[j], sm1[j], sm1[j]) // e^lv − 1
			VBROADCASTSS(avx.ParamAddr("beta"), k0[j])
			VMULPS(avx.F32(0.5), k0[j], k0[j]) // ½β
		})
		g, e := dlogvar(s, p, sv, sm1, k0)
		m := s.Load(p.mu)
		each(u, func(j int) {
			VBROADCASTSS(avx.ParamAddr("beta"), k0[j])
			VFMADD213PS(g[j], k0[j], m[j]) // dmu = beta·mu + dz
		})
		s.Store(m, p.dmu)
		s.Store(e, p.dlv)
	}
}

func klbStep512(p klbSlices) func(avx.Step) {
	beta, hbeta := ZMM(), ZMM()
	VBROADCASTSS(avx.ParamAddr("beta"), beta)
	VMULPS_BCST(avx.F32(0.5), beta, hbeta)
	return func(s avx.Step) {
		u := len(s.Offs)
		sv := s.Load(p.logvar)
		each(u, func(j int) { VMULPS_BCST(avx.F32(0.5), sv[j], sv[j]) })
		sm1 := vecmath.ExpExpm1AVX512(sv) // s = e^(logvar/2)
		each(u, func(j int) {
			sp1 := ZMM()
			VADDPS_BCST(avx.F32(1), sv[j], sp1)
			VMULPS(sp1, sm1[j], sm1[j]) // e^lv − 1
		})
		g, e := dlogvar(s, p, sv, sm1, slices.Repeat([]reg.VecVirtual{hbeta}, u))
		m := s.Load(p.mu)
		each(u, func(j int) { VFMADD213PS(g[j], beta, m[j]) }) // dmu = beta·mu + dz
		s.Store(m, p.dmu)
		s.Store(e, p.dlv)
	}
}

// dlogvar loads the step's dz and eps and returns them, eps's registers now
// holding ½·dz·eps·s + ½β·(e^lv − 1), where halfBeta[j] holds ½β for
// vector j.
func dlogvar(s avx.Step, p klbSlices, sv, sm1, halfBeta []reg.VecVirtual) (g, e []reg.VecVirtual) {
	g = s.Load(p.dz)
	e = s.Load(p.eps)
	each(len(e), func(j int) {
		s.W.VMULPS(avx.F32(0.5), e[j], e[j])
		VMULPS(g[j], e[j], e[j])
		VMULPS(sv[j], e[j], e[j])
		VFMADD231PS(halfBeta[j], sm1[j], e[j])
	})
	return g, e
}
