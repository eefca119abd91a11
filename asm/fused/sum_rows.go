package main

import (
	"fmt"

	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// SumRows: the column sums of a matrix (a bias gradient), accumulated in
// float64.

func sumRows() {
	TEXT("sumRowsAVX2", NOSPLIT, "func(dst, src []float32, ld, rows int, acc []float64)")
	Pragma("noescape")
	avx.Doc("sumRowsAVX2 sets dst to the column sums of the rows rows of src, ld apart, in the order " +
		"of sumRowsGeneric, accumulating in acc. len(dst) > 0, rows > 0, " +
		"len(src) ≥ (rows−1)·ld + len(dst), and len(acc) = len(dst).")
	p, cols := avx.Slices("dst", "src", "acc")
	dst, src, acc := p[0], p[1], p[2]
	rowBytes := Load(Param("ld"), GP64())
	SHLQ(Imm(2), rowBytes)
	// end is where row rows would start: compared with, never read.
	end := Load(Param("rows"), GP64())
	IMULQ(rowBytes, end)
	ADDQ(src, end)
	// accAt addresses the float64 acc[i + k].
	accAt := func(i reg.Register, k int) Mem { return Mem{Base: acc, Index: i, Scale: 8, Disp: 8 * k} }

	// acc = 0
	zero := YMM()
	VXORPD(zero, zero, zero)
	avx.Loop{Name: "srzero", N: cols, Width: avx.YMM, Elem: 8, Tail: avx.Scalar}.Emit(func(s avx.Step) {
		if s.Scalar {
			VMOVSD(zero.AsX(), s.At(acc, 0))
		} else {
			VMOVUPD(zero, s.At(acc, 0))
		}
	})

	// Rows stream through once, in blocks of four: each block adds its four
	// rows pairwise in float32, (r0 + r1) + (r2 + r3), and that sum to acc
	// in float64 (halving the float64 conversions, which limit this loop);
	// the last rows are added to acc one by one.
	rowBlock := func(rows int) {
		p := make([]reg.Register, rows)
		p[0] = src
		for r := 1; r < rows; r++ {
			p[r] = GP64()
			LEAQ(Mem{Base: p[r-1], Index: rowBytes, Scale: 1}, p[r])
		}
		name := fmt.Sprintf("srb%d", rows)
		avx.Loop{Name: name, N: cols, Width: avx.YMM, Unroll: 4, Tail: avx.Scalar}.Emit(func(s avx.Step) {
			add := func(a Op, x reg.VecVirtual) {
				if s.Scalar {
					VADDSS(a, x, x)
				} else {
					VADDPS(a, x, x)
				}
			}
			xs := s.Load(p[0])
			if rows == 4 {
				ys := s.Load(p[2])
				for j, x := range xs {
					add(s.At(p[1], j), x)
					add(s.At(p[3], j), ys[j])
					add(ys[j], x)
				}
			}
			for j, k := range s.Offs {
				x := xs[j]
				if s.Scalar {
					VCVTSS2SD(x, x, x)
					VADDSD(accAt(s.I, k), x, x)
					VMOVSD(x, accAt(s.I, k))
					continue
				}
				hi := XMM()
				VEXTRACTF128(Imm(1), x, hi)
				a0, a1 := YMM(), YMM()
				VCVTPS2PD(x.AsX(), a0)
				VCVTPS2PD(hi, a1)
				VADDPD(accAt(s.I, k), a0, a0)
				VADDPD(accAt(s.I, k+4), a1, a1)
				VMOVUPD(a0, accAt(s.I, k))
				VMOVUPD(a1, accAt(s.I, k+4))
			}
		})
	}
	blockBytes := GP64()
	LEAQ(Mem{Base: rowBytes, Index: rowBytes, Scale: 2}, blockBytes) // 3 rows
	ADDQ(rowBytes, blockBytes)                                       // 4 rows
	Label("sumrows_by4")
	// Four more rows remain while src + 4·rowBytes ≤ end.
	next := GP64()
	LEAQ(Mem{Base: src, Index: blockBytes, Scale: 1}, next)
	CMPQ(next, end)
	JA(LabelRef("sumrows_by1"))
	rowBlock(4)
	MOVQ(next, src)
	JMP(LabelRef("sumrows_by4"))
	Label("sumrows_by1")
	CMPQ(src, end)
	JAE(LabelRef("sumrows_round"))
	rowBlock(1)
	ADDQ(rowBytes, src)
	JMP(LabelRef("sumrows_by1"))

	// dst = float32(acc)
	Label("sumrows_round")
	avx.Loop{Name: "srround", N: cols, Width: avx.YMM, Elem: 8, Tail: avx.Scalar}.Emit(func(s avx.Step) {
		x := XMM()
		at := Mem{Base: dst, Index: s.I, Scale: 4}
		if s.Scalar {
			VMOVSD(s.At(acc, 0), x)
			VCVTSD2SS(x, x, x)
			VMOVSS(x, at)
			return
		}
		VCVTPD2PSY(s.At(acc, 0), x)
		VMOVUPS(x, at)
	})
	VZEROUPPER()
	RET()
}
