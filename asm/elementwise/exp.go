package main

import (
	"github.com/fastvae/fastvae/asm/internal/vecmath"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Unroll (vectors per iteration) and constants kept in registers, the best
// measured on Zen 4: the loops are bound by the FMA pipes once the constants
// no longer cost a load each.
const (
	expUnroll, expRegs         = 2, 8
	sigmoidUnroll, sigmoidRegs = 3, 3
)

func expAVX2() {
	unaryAVX2("expAVX2", "expAVX2 sets dst[i] = e^src[i]. len(dst) == len(src).", expUnroll, expRegs,
		func(a *vecmath.AVX2, xs []reg.VecVirtual, _ []Op, inRange bool) {
			if inRange {
				a.ExpInRange(xs)
			} else {
				a.Exp(xs)
			}
		})
}

func sigmoidAVX2() {
	unaryAVX2("sigmoidAVX2", "sigmoidAVX2 sets dst[i] = 1/(1+e^-src[i]). len(dst) == len(src).", sigmoidUnroll, sigmoidRegs,
		(*vecmath.AVX2).Sigmoid)
}

// unaryAVX2 emits func name(dst, src []float32) that applies f to src in
// blocks of unroll YMM vectors, then to single vectors, then to a masked
// last vector. A block whose inputs are all within ±vecmath.InRangeMax takes
// f's in-range variant. f replaces the registers xs by the results; srcs holds
// the same inputs as operands it may read again (memory in the loop,
// registers in the tail). regs constants stay in registers throughout.
func unaryAVX2(name, doc string, unroll, regs int, f func(a *vecmath.AVX2, xs []reg.VecVirtual, srcs []Op, inRange bool)) {
	TEXT(name, NOSPLIT, "func(dst, src []float32)")
	Doc(doc)
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	a := vecmath.NewAVX2(regs)
	i := GP64()
	XORQ(i, i)
	label := func(s string) string { return name + "_" + s }
	at := func(base reg.Register, v int) Mem {
		return Mem{Base: base, Index: i, Scale: 4, Disp: 32 * v}
	}

	Label(label("block"))
	rem := GP64()
	MOVQ(n, rem)
	SUBQ(i, rem)
	CMPQ(rem, U32(lanes*unroll))
	JB(LabelRef(label("vector")))
	xs := make([]reg.VecVirtual, unroll)
	xops := make([]Op, unroll)
	srcs := make([]Op, unroll)
	for v := range xs {
		xs[v] = YMM()
		xops[v] = xs[v]
		srcs[v] = at(src, v)
		VMOVUPS(srcs[v], xs[v])
	}
	a.BranchIfOutOfRange(label("outside"), xops...)
	block := func(inRange bool) {
		f(a, xs, srcs, inRange)
		for v, x := range xs {
			VMOVUPS(x, at(dst, v))
		}
		ADDQ(U32(lanes*unroll), i)
		JMP(LabelRef(label("block")))
	}
	block(true)
	Label(label("outside"))
	block(false)

	// Fewer than unroll vectors left: one at a time, then a masked last one.
	Label(label("vector"))
	MOVQ(n, rem)
	SUBQ(i, rem)
	CMPQ(rem, U32(lanes))
	JB(LabelRef(label("masked")))
	x := YMM()
	VMOVUPS(at(src, 0), x)
	s := YMM()
	VMOVAPS(x, s)
	f(a, []reg.VecVirtual{x}, []Op{s}, false)
	VMOVUPS(x, at(dst, 0))
	ADDQ(U32(lanes), i)
	JMP(LabelRef(label("vector")))

	Label(label("masked"))
	TESTQ(rem, rem)
	JZ(LabelRef(label("done")))
	mask := YMM()
	vecmath.TailMaskAVX2(mask, rem)
	x = YMM()
	VMASKMOVPS(at(src, 0), mask, x) // lanes past the end read as 0
	s = YMM()
	VMOVAPS(x, s)
	f(a, []reg.VecVirtual{x}, []Op{s}, false)
	VMASKMOVPS(x, mask, at(dst, 0))

	Label(label("done"))
	VZEROUPPER()
	RET()
}
