package main

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	"github.com/fastvae/fastvae/asm/internal/vecmath"
	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/reg"
)

// BCEWithLogits: the Bernoulli decoder's loss Σ softplus(l) − t·l and its
// gradient scale·(σ(l) − t), for AVX2 and AVX-512F.
//
// With e = e^−|l| in [0, 1] and q = σ(−|l|) = e/(1+e): softplus(l) − t·l is
// ln(1 + e) + l·c with c = step(l) − t, the step from the sign bit (−0
// counts as negative), so that l·c = max(l,0) − t·l ≥ 0 without
// cancellation; σ(l) − t is c − q for l ≥ +0 and c + q below. ln(1 + e)
// comes from vecmath's Log1pUnit, accurate also where 1 + e rounds to 1.

func bceWithLogits(w avx.Width) {
	kernel("bceWithLogits", w, "func(dlogits, logits, target []float32, scale float32) float64",
		"returns Σ softplus(l) − t·l, accumulated in float64, and sets dlogits = scale·(sigmoid(l) − t). "+
			"The lengths are equal.")
	p, n := avx.Slices("logits", "dlogits", "target")
	logits, dl, target := p[0], p[1], p[2]
	acc := zeroed(w, 2) // float64 sums of the terms' low and high halves
	var body func(avx.Step)
	if w == avx.ZMM {
		// 3 vectors, not 4: scale comes from memory too, the exp's constants
		// leave no registers spare.
		body = bceStep512(dl, logits, target, acc)
		avx.Loop{Name: "bce512", N: n, Width: w, Unroll: unroll512 - 1}.Emit(body)
	} else {
		body = bceStepAVX2(dl, logits, target, acc)
		avx.Loop{Name: "bce", N: n, Width: w, Unroll: unrollExp}.Emit(body)
	}
	returnSum(reducePair(w, acc[0], acc[1]))
}

func bceStepAVX2(dl, logits, target reg.Register, acc []reg.VecVirtual) func(avx.Step) {
	scale := avx.Broadcast(avx.YMM, "scale")
	ex := vecmath.NewAVX2(0)
	return func(s avx.Step) {
		u := len(s.Offs)
		l := s.Load(logits)
		ev := s.Regs()
		each(u, func(j int) { VORPS(avx.Splat(avx.SignBit), l[j], ev[j]) }) // −|l|
		ex.ExpBranched(s.Label("e"), ev)                                    // e = e^−|l| in [0, 1]
		q := sigmoidNegAbs(s, ev)
		t := s.Load(target)
		c := t
		each(u, func(j int) {
			one := YMM()
			VBROADCASTSS(avx.F32(1), one)
			VBLENDVPS(l[j], avx.F32(0), one, one) // sign(l) ? 0 : 1
			VSUBPS(t[j], one, c[j])
		})
		d := s.Regs()
		each(u, func(j int) {
			VANDPS(avx.Splat(avx.SignBit), l[j], d[j])
			VXORPS(avx.Splat(avx.SignBit), d[j], d[j]) // sign bit set where l ≥ +0
			VXORPS(q[j], d[j], d[j])                   // ∓q
			VADDPS(c[j], d[j], d[j])
			VMULPS(scale, d[j], d[j])
		})
		// Stored now to free registers; l and c stay in registers, so
		// dlogits may alias logits or target.
		s.Store(d, dl)
		addLoss(s, ev, l, c, acc)
	}
}

func bceStep512(dl, logits, target reg.Register, acc []reg.VecVirtual) func(avx.Step) {
	ex := vecmath.NewAVX512()
	scale := avx.ParamAddr("scale")
	return func(s avx.Step) {
		u := len(s.Offs)
		l := s.Load(logits)
		ev := s.Regs()
		each(u, func(j int) { VPORD_BCST(avx.Splat(avx.SignBit), l[j], ev[j]) }) // −|l|
		exp512(ex, ev)                                                           // e = e^−|l| in [0, 1]
		q := sigmoidNegAbs(s, ev)
		t := s.Load(target)
		neg := make([]reg.OpmaskVirtual, u)
		c := s.Regs()
		each(u, func(j int) {
			neg[j] = K()
			VPTESTMD_BCST(avx.Splat(avx.SignBit), l[j], neg[j])
			VBROADCASTSS(avx.F32(1), c[j])
			VSUBPS(t[j], c[j], c[j])
			VPXORD_BCST(avx.Splat(avx.SignBit), t[j], neg[j], c[j]) // −t where l < 0 (sign set)
		})
		d := t // t is free
		each(u, func(j int) {
			VSUBPS(q[j], c[j], d[j])
			VADDPS(q[j], c[j], neg[j], d[j])
			VMULPS_BCST(scale, d[j], d[j])
		})
		s.Store(d, dl)
		addLoss(s, ev, l, c, acc)
	}
}

// sigmoidNegAbs returns q = e/(1+e) = σ(−|l|) for the step's e = e^−|l|.
func sigmoidNegAbs(s avx.Step, ev []reg.VecVirtual) []reg.VecVirtual {
	q := s.Regs()
	each(len(ev), func(j int) {
		s.W.VADDPS(avx.F32(1), ev[j], q[j])
		VDIVPS(q[j], ev[j], q[j]) // q = e/(1+e)
	})
	return q
}

// addLoss adds the step's loss terms ln(1 + e) + l·c to the float64
// accumulators acc.
func addLoss(s avx.Step, ev, l, c, acc []reg.VecVirtual) {
	sp := vecmath.Log1pUnit(s.W, ev) // ln(1 + e)
	each(len(ev), func(j int) {
		VFMADD231PS(l[j], c[j], sp[j]) // + l·c
		s.ZeroMasked(sp[j])            // masked-off lanes loaded l = 0: ln 2
		cvtAdd(s.W, sp[j], acc[0], acc[1], false)
	})
}
