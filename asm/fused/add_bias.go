package main

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// AddBias: a bias row added to every row of a matrix.

func addBias() {
	TEXT("addBiasAVX2", NOSPLIT, "func(y, bias []float32)")
	Pragma("noescape")
	avx.Doc("addBiasAVX2 adds bias to every row of y. len(y) is a multiple of len(bias), and " +
		"len(bias) > 0 unless len(y) == 0.")
	p, n := avx.Slices("y", "bias")
	y, bias := p[0], p[1]
	cols := Load(Param("bias").Len(), GP64())
	// end = y + 4·len(y); rows advance y by 4·cols bytes until it reaches end.
	end := GP64()
	LEAQ(Mem{Base: y, Index: n, Scale: 4}, end)
	rowBytes := GP64()
	MOVQ(cols, rowBytes)
	SHLQ(Imm(2), rowBytes)

	Label("addbias_rows")
	CMPQ(y, end)
	JAE(LabelRef("addbias_end"))
	avx.Loop{Name: "addbias", N: cols, Width: avx.YMM, Unroll: 4, Tail: avx.Scalar}.Emit(func(s avx.Step) {
		xs := s.Load(y)
		for j, x := range xs {
			if s.Scalar {
				VADDSS(s.At(bias, j), x, x)
			} else {
				VADDPS(s.At(bias, j), x, x)
			}
		}
		s.Store(xs, y)
	})
	ADDQ(rowBytes, y)
	JMP(LabelRef("addbias_rows"))

	Label("addbias_end")
	VZEROUPPER()
	RET()
}
