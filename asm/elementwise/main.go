// Command elementwise generates the AVX2 assembly of the elementwise kernels
// (Exp, Sigmoid, ReLU, ReLUBackward) into package kernels.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")
	expAVX2()
	sigmoidAVX2()
	reluAVX2()
	reluBackwardAVX2()
	Generate()
}

// lanes is the number of float32 in a YMM register.
const lanes = 8

// cmpLTOQ is the VCMPPS predicate "less than, ordered, quiet": false for NaN.
const cmpLTOQ = 0x11

func reluAVX2() {
	TEXT("reluAVX2", NOSPLIT, "func(dst, src []float32)")
	Doc("reluAVX2 sets dst[i] = src[i] < 0 ? 0 : src[i] (NaN and -0 pass through). len(dst) == len(src).")
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	zero := YMM()
	VXORPS(zero, zero, zero)
	i := GP64()
	XORQ(i, i)

	Label("relu_vector")
	end := GP64()
	MOVQ(i, end)
	ADDQ(Imm(lanes), end)
	CMPQ(end, n)
	JA(LabelRef("relu_tail"))
	x := YMM()
	// VMAXPS returns its first (Go-order) operand when either is NaN or both
	// are zero, so NaN and -0 pass through as in the generic code.
	VMAXPS(Mem{Base: src, Index: i, Scale: 4}, zero, x)
	VMOVUPS(x, Mem{Base: dst, Index: i, Scale: 4})
	MOVQ(end, i)
	JMP(LabelRef("relu_vector"))

	Label("relu_tail")
	CMPQ(i, n)
	JAE(LabelRef("relu_done"))
	xs := XMM()
	VMAXSS(Mem{Base: src, Index: i, Scale: 4}, zero.AsX(), xs)
	VMOVSS(xs, Mem{Base: dst, Index: i, Scale: 4})
	INCQ(i)
	JMP(LabelRef("relu_tail"))

	Label("relu_done")
	VZEROUPPER()
	RET()
}

func reluBackwardAVX2() {
	TEXT("reluBackwardAVX2", NOSPLIT, "func(dx, dy, y []float32)")
	Doc("reluBackwardAVX2 sets dx[i] = y[i] > 0 ? dy[i] : 0. The three lengths are equal.")
	dx := Load(Param("dx").Base(), GP64())
	dy := Load(Param("dy").Base(), GP64())
	y := Load(Param("y").Base(), GP64())
	n := Load(Param("y").Len(), GP64())
	zero := YMM()
	VXORPS(zero, zero, zero)
	i := GP64()
	XORQ(i, i)

	Label("reluback_vector")
	end := GP64()
	MOVQ(i, end)
	ADDQ(Imm(lanes), end)
	CMPQ(end, n)
	JA(LabelRef("reluback_tail"))
	mask := YMM()
	VCMPPS(Imm(cmpLTOQ), Mem{Base: y, Index: i, Scale: 4}, zero, mask) // 0 < y
	VANDPS(Mem{Base: dy, Index: i, Scale: 4}, mask, mask)
	VMOVUPS(mask, Mem{Base: dx, Index: i, Scale: 4})
	MOVQ(end, i)
	JMP(LabelRef("reluback_vector"))

	Label("reluback_tail")
	CMPQ(i, n)
	JAE(LabelRef("reluback_done"))
	ms, gs := XMM(), XMM()
	VCMPSS(Imm(cmpLTOQ), Mem{Base: y, Index: i, Scale: 4}, zero.AsX(), ms)
	VMOVSS(Mem{Base: dy, Index: i, Scale: 4}, gs)
	VANDPS(gs, ms, ms)
	VMOVSS(ms, Mem{Base: dx, Index: i, Scale: 4})
	INCQ(i)
	JMP(LabelRef("reluback_tail"))

	Label("reluback_done")
	VZEROUPPER()
	RET()
}
