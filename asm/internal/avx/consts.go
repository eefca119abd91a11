package avx

import (
	"fmt"
	"math"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The constant pool of a generated file: one read-only block per distinct
// value or table, added on first use, so that kernels and the vecmath
// emitters of one file share them.
var pool = map[string]operand.Mem{}

// Splat returns a 32-byte read-only block holding 8 copies of the 32-bit
// pattern bits: a YMM memory operand, and for the AVX-512 embedded-broadcast
// (_BCST) forms and VBROADCASTSS a 4-byte one.
func Splat(bits uint32) operand.Mem {
	return block(fmt.Sprintf("c32_%08x", bits), YMM.Lanes(), func(k int) { build.DATA(4*k, operand.U32(bits)) })
}

// F32 returns Splat of the bits of v.
func F32(v float32) operand.Mem { return Splat(math.Float32bits(v)) }

// Table32 returns a read-only block named name holding words in order.
func Table32(name string, words ...uint32) operand.Mem {
	return block(name, len(words), func(k int) { build.DATA(4*k, operand.U32(words[k])) })
}

// Table16 is Table32 for 16-bit words.
func Table16(name string, words ...uint16) operand.Mem {
	return block(name, len(words), func(k int) { build.DATA(2*k, operand.U16(words[k])) })
}

// block returns the pool's block name, adding it with data(k) for k < n
// (each writing one word) on first use.
func block(name string, n int, data func(k int)) operand.Mem {
	if m, ok := pool[name]; ok {
		return m
	}
	m := build.GLOBL(name, build.RODATA|build.NOPTR)
	for k := range n {
		data(k)
	}
	pool[name] = m
	return m
}

// Horner returns, for each x of width w, c[0] + x·(c[1] + x·(…)), with the
// coefficients (float32 bits) from the pool. Each step is emitted for all xs
// before the next, so that the independent chains overlap.
func Horner(w Width, xs []reg.VecVirtual, c []uint32) []reg.VecVirtual {
	ps := w.Regs(len(xs))
	for _, p := range ps {
		w.SetConst(Splat(c[len(c)-1]), p)
	}
	for k := len(c) - 2; k >= 0; k-- {
		for j, x := range xs {
			w.VFMADD213PS(Splat(c[k]), x, ps[j]) // p = x·p + c[k]
		}
	}
	return ps
}
