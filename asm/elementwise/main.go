// Command elementwise generates the assembly of the elementwise kernels into
// package kernels: Exp and Sigmoid for AVX2 and AVX-512F (exp.go), ReLU and
// ReLUBackward for AVX2 (relu.go). Each is one avx.Loop over its slices.
package main

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
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
	avx.Generate()
}

// body emits one step of a unary kernel: it replaces the vectors xs, the
// step's elements of src, by their results.
type body func(s avx.Step, xs []reg.VecVirtual)

// unary emits func name(dst, src []float32), which loads src a step of an
// avx.Loop of width w at a time, lets the body replace the vectors by their
// results and stores them to dst. newBody, called once the arguments are
// loaded, may emit set-up code (constants into registers) before the loop.
func unary(name, doc string, w avx.Width, unroll int, newBody func(src reg.Register) body) {
	TEXT(name, NOSPLIT, "func(dst, src []float32)")
	Pragma("noescape")
	avx.Doc(name + " " + doc + " len(dst) == len(src).")
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	n := Load(Param("src").Len(), GP64())
	body := newBody(src)
	avx.Loop{Name: name, N: n, Width: w, Unroll: unroll}.Emit(func(s avx.Step) {
		xs := s.Load(src)
		body(s, xs)
		s.Store(xs, dst)
	})
	VZEROUPPER()
	RET()
}
