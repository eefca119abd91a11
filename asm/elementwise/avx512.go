package main

import (
	"github.com/fastvae/fastvae/asm/internal/vecmath"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// zlanes is the number of float32 in a ZMM register.
const zlanes = 16

// zUnroll ZMM vectors per iteration measured best on Zen 4 (2 is 2-5%
// slower; 4 runs out of registers).
const zUnroll = 3

func expAVX512() {
	unaryAVX512("expAVX512", "expAVX512 sets dst[i] = e^src[i]. len(dst) == len(src).", zUnroll,
		(*vecmath.AVX512).Exp)
}

func sigmoidAVX512() {
	unaryAVX512("sigmoidAVX512", "sigmoidAVX512 sets dst[i] = 1/(1+e^-src[i]). len(dst) == len(src).", zUnroll,
		(*vecmath.AVX512).Sigmoid)
}

// unaryAVX512 emits func name(dst, src []float32) that applies f to src in
// blocks of unroll ZMM vectors, then single vectors, then one masked vector.
func unaryAVX512(name, doc string, unroll int, f func(a *vecmath.AVX512, xs []reg.VecVirtual)) {
	TEXT(name, NOSPLIT, "func(dst, src []float32)")
	Doc(doc)
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	a := vecmath.NewAVX512()
	i := GP64()
	XORQ(i, i)
	at := func(base reg.Register, v int) Mem {
		return Mem{Base: base, Index: i, Scale: 4, Disp: 64 * v}
	}
	step := func(vectors int, label, next string) {
		Label(name + "_" + label)
		rem := GP64()
		MOVQ(n, rem)
		SUBQ(i, rem)
		CMPQ(rem, U32(zlanes*vectors))
		JB(LabelRef(name + "_" + next))
		xs := make([]reg.VecVirtual, vectors)
		for v := range xs {
			xs[v] = ZMM()
			VMOVUPS(at(src, v), xs[v])
		}
		f(a, xs)
		for v, x := range xs {
			VMOVUPS(x, at(dst, v))
		}
		ADDQ(U32(zlanes*vectors), i)
		JMP(LabelRef(name + "_" + label))
	}
	step(unroll, "block", "vector")
	step(1, "vector", "masked")

	Label(name + "_masked")
	rem := GP64()
	MOVQ(n, rem)
	SUBQ(i, rem)
	JZ(LabelRef(name + "_done"))
	k := K()
	vecmath.TailMaskAVX512(k, rem)
	x := ZMM()
	VMOVUPS_Z(at(src, 0), k, x) // lanes past the end read as 0
	f(a, []reg.VecVirtual{x})
	VMOVUPS(x, k, at(dst, 0))

	Label(name + "_done")
	VZEROUPPER()
	RET()
}
