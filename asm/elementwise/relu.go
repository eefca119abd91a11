package main

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// ReLU and its backward pass, max(x, 0) and the gradient through it.

// reluUnroll vectors per iteration keep the loop at one load and one store a
// cycle, the limit of the core.
const reluUnroll = 4

func reluAVX2() {
	unary("reluAVX2", "sets dst[i] = src[i] < 0 ? 0 : src[i] (NaN and -0 pass through).", avx.YMM, reluUnroll,
		func(reg.Register) body {
			zero := YMM()
			VXORPS(zero, zero, zero)
			return func(_ avx.Step, xs []reg.VecVirtual) {
				for _, x := range xs {
					// VMAXPS returns its first (Go-order) operand when either is
					// NaN or both are zero, so NaN and -0 pass through as in the
					// generic code.
					VMAXPS(x, zero, x)
				}
			}
		})
}

func reluBackwardAVX2() {
	TEXT("reluBackwardAVX2", NOSPLIT, "func(dx, dy, y []float32)")
	Pragma("noescape")
	avx.Doc("reluBackwardAVX2 sets dx[i] = y[i] > 0 ? dy[i] : 0. The three lengths are equal.")
	p, n := avx.Slices("dx", "dy", "y")
	dx, dy, y := p[0], p[1], p[2]
	zero := YMM()
	VXORPS(zero, zero, zero)
	avx.Loop{Name: "reluback", N: n, Width: avx.YMM, Unroll: reluUnroll}.Emit(func(s avx.Step) {
		ms := s.Regs()
		for j, m := range ms {
			VCMPPS(Imm(avx.CmpLTOQ), s.Operand(y, j), zero, m) // 0 < y
			VANDPS(s.Operand(dy, j), m, m)
		}
		s.Store(ms, dx)
	})
	VZEROUPPER()
	RET()
}
