// Command elementwise generates the assembly of the elementwise kernels into
// package kernels: AVX2 Exp, Sigmoid, ReLU and ReLUBackward, and AVX-512 Exp
// and Sigmoid.
package main

import (
	"github.com/fastvae/fastvae/asm/internal/vecmath"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")
	expAVX2()
	sigmoidAVX2()
	expAVX512()
	sigmoidAVX512()
	reluAVX2()
	reluBackwardAVX2()
	Generate()
}

// lanes is the number of float32 in a YMM register.
const lanes = 8

// cmpLTOQ is the VCMPPS predicate "less than, ordered, quiet": false for NaN.
const cmpLTOQ = 0x11

// reluUnroll vectors per iteration keep the loop at one load and one store a
// cycle, the limit of the core.
const reluUnroll = 4

func reluAVX2() {
	TEXT("reluAVX2", NOSPLIT, "func(dst, src []float32)")
	Doc("reluAVX2 sets dst[i] = src[i] < 0 ? 0 : src[i] (NaN and -0 pass through). len(dst) == len(src).")
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	zero := YMM()
	VXORPS(zero, zero, zero)
	streamAVX2("relu", n, dst, []reg.Register{src}, reluUnroll, func(in []Op) reg.VecVirtual {
		// VMAXPS returns its first (Go-order) operand when either is NaN or
		// both are zero, so NaN and -0 pass through as in the generic code.
		y := YMM()
		VMAXPS(in[0], zero, y)
		return y
	})
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
	streamAVX2("reluback", n, dx, []reg.Register{dy, y}, reluUnroll, func(in []Op) reg.VecVirtual {
		m := YMM()
		VCMPPS(Imm(cmpLTOQ), in[1], zero, m) // 0 < y
		VANDPS(in[0], m, m)
		return m
	})
	VZEROUPPER()
	RET()
}

// streamAVX2 emits a loop that sets out[i] = body(ins[0][i], ins[1][i], ...)
// for i < n, in blocks of unroll YMM vectors, then single vectors, then a
// masked last vector. body gets its inputs as operands (memory, or registers
// in the masked tail) and returns the register holding its result.
func streamAVX2(name string, n, out reg.Register, ins []reg.Register, unroll int, body func(in []Op) reg.VecVirtual) {
	i := GP64()
	XORQ(i, i)
	at := func(base reg.Register, v int) Mem {
		return Mem{Base: base, Index: i, Scale: 4, Disp: 32 * v}
	}
	step := func(vectors int, label string) {
		Label(name + "_" + label)
		rem := GP64()
		MOVQ(n, rem)
		SUBQ(i, rem)
		CMPQ(rem, U32(lanes*vectors))
		next := "vector"
		if vectors == 1 {
			next = "masked"
		}
		JB(LabelRef(name + "_" + next))
		ys := make([]reg.VecVirtual, vectors)
		for v := range ys {
			in := make([]Op, len(ins))
			for k, p := range ins {
				in[k] = at(p, v)
			}
			ys[v] = body(in)
		}
		for v, y := range ys {
			VMOVUPS(y, at(out, v))
		}
		ADDQ(U32(lanes*vectors), i)
		JMP(LabelRef(name + "_" + label))
	}
	step(unroll, "block")
	step(1, "vector")

	Label(name + "_masked")
	rem := GP64()
	MOVQ(n, rem)
	SUBQ(i, rem)
	JZ(LabelRef(name + "_done"))
	mask := YMM()
	vecmath.TailMaskAVX2(mask, rem)
	in := make([]Op, len(ins))
	for k, p := range ins {
		x := YMM()
		VMASKMOVPS(at(p, 0), mask, x) // lanes past the end read as 0
		in[k] = x
	}
	VMASKMOVPS(body(in), mask, at(out, 0))
	Label(name + "_done")
}
