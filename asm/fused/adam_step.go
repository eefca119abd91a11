package main

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// AdamStep: one Adam update of a parameter tensor, with the generic code's
// float32 operations in the generic code's order.

// adamOps are the instructions of one Adam update: packed or scalar.
type adamOps struct {
	mov, mul, add, div, sqrt func(...Op)
	c                        func(reg.VecVirtual) reg.VecVirtual // a broadcast constant as an operand
}

var (
	adamPacked = adamOps{
		mov: func(a ...Op) { VMOVUPS(a[0], a[1]) }, mul: func(a ...Op) { VMULPS(a...) },
		add: func(a ...Op) { VADDPS(a...) }, div: func(a ...Op) { VDIVPS(a...) }, sqrt: func(a ...Op) { VSQRTPS(a...) },
		c: func(y reg.VecVirtual) reg.VecVirtual { return y },
	}
	adamScalar = adamOps{
		mov: func(a ...Op) { VMOVSS(a[0], a[1]) }, mul: func(a ...Op) { VMULSS(a...) },
		add: func(a ...Op) { VADDSS(a...) }, div: func(a ...Op) { VDIVSS(a...) },
		sqrt: func(a ...Op) { VSQRTSS(a[0], a[1], a[1]) },
		c:    func(y reg.VecVirtual) reg.VecVirtual { return y.AsX().(reg.VecVirtual) },
	}
)

func adamStep() {
	TEXT("adamStepAVX2", NOSPLIT, "func(param, grad, m, v []float32, beta1, omb1, beta2, omb2, negStep, epsS float32)")
	Pragma("noescape")
	avx.Doc("adamStepAVX2 performs adamStepGeneric's float32 operations in the same order, without " +
		"FMA, so it produces the same bits. The lengths are equal.")
	p, n := avx.Slices("grad", "param", "m", "v")
	grad, param, m, v := p[0], p[1], p[2], p[3]
	beta1, omb1 := avx.Broadcast(avx.YMM, "beta1"), avx.Broadcast(avx.YMM, "omb1")
	beta2, omb2 := avx.Broadcast(avx.YMM, "beta2"), avx.Broadcast(avx.YMM, "omb2")
	negStep, epsS := avx.Broadcast(avx.YMM, "negStep"), avx.Broadcast(avx.YMM, "epsS")

	const unroll = 2
	avx.Loop{Name: "adam", N: n, Width: avx.YMM, Unroll: unroll, Tail: avx.Scalar}.Emit(func(s avx.Step) {
		o := adamPacked
		if s.Scalar {
			o = adamScalar
		}
		for j := range s.Offs {
			g, mm, vv, t := s.Reg(), s.Reg(), s.Reg(), s.Reg()
			o.mov(s.At(grad, j), g)
			o.mov(s.At(m, j), mm)
			o.mov(s.At(v, j), vv)
			// m = β1·m + (1−β1)·g
			o.mul(o.c(beta1), mm, mm)
			o.mul(o.c(omb1), g, t)
			o.add(t, mm, mm)
			// v = β2·v + ((1−β2)·g)·g
			o.mul(o.c(beta2), vv, vv)
			o.mul(o.c(omb2), g, t)
			o.mul(g, t, t)
			o.add(t, vv, vv)
			o.mov(mm, s.At(m, j))
			o.mov(vv, s.At(v, j))
			// p += (negStep·m)/(√v + epsS)
			o.sqrt(vv, vv)
			o.add(o.c(epsS), vv, vv)
			o.mul(o.c(negStep), mm, mm)
			o.div(vv, mm, mm)
			o.mov(s.At(param, j), t)
			o.add(mm, t, t)
			o.mov(t, s.At(param, j))
		}
	})
	VZEROUPPER()
	RET()
}
