package main

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	"github.com/fastvae/fastvae/asm/internal/vecmath"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Exp and Sigmoid, each element by vecmath's emitters: e^x, and
// σ(x) = 1/(1+e^-x) built on it.

// Unroll (vectors per iteration) and constants kept in registers, the best
// measured on Zen 4: the AVX2 loops are bound by the FMA pipes once the
// constants no longer cost a load each. For AVX-512, 3 ZMM vectors (2 is
// 2-5% slower; 4 runs out of registers) beside the 12 constants of
// vecmath.AVX512.
const (
	expUnroll, expRegs         = 2, 8
	sigmoidUnroll, sigmoidRegs = 3, 3
	unroll512                  = 3
)

func expAVX2() {
	unary("expAVX2", "sets dst[i] = e^src[i].", avx.YMM, expUnroll, func(reg.Register) body {
		a := vecmath.NewAVX2(expRegs)
		return func(s avx.Step, xs []reg.VecVirtual) { a.ExpBranched(s.Label("exp"), xs) }
	})
}

func sigmoidAVX2() {
	unary("sigmoidAVX2", "sets dst[i] = 1/(1+e^-src[i]).", avx.YMM, sigmoidUnroll, func(src reg.Register) body {
		a := vecmath.NewAVX2(sigmoidRegs)
		return func(s avx.Step, xs []reg.VecVirtual) {
			signs := make([]Op, len(xs)) // the inputs again, for their signs
			for j := range xs {
				signs[j] = s.Operand(src, j)
			}
			a.Sigmoid(s.Label("sigmoid"), xs, signs)
		}
	})
}

func expAVX512() {
	unary("expAVX512", "sets dst[i] = e^src[i].", avx.ZMM, unroll512, func(reg.Register) body {
		a := vecmath.NewAVX512()
		return func(_ avx.Step, xs []reg.VecVirtual) { a.Exp(xs) }
	})
}

func sigmoidAVX512() {
	unary("sigmoidAVX512", "sets dst[i] = 1/(1+e^-src[i]).", avx.ZMM, unroll512, func(reg.Register) body {
		a := vecmath.NewAVX512()
		return func(_ avx.Step, xs []reg.VecVirtual) { a.Sigmoid(xs) }
	})
}
