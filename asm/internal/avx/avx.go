// Package avx holds what every avo generator of package kernels shares: the
// vector register widths, scalar parameters, one pool of read-only constants,
// Horner evaluation, the streaming loop that every elementwise and fused
// kernel is built on, named comparison predicates, and Generate, which writes
// the files with no line over 100 characters.
package avx

import (
	"fmt"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Width is a vector register width: YMM (AVX2, 8 float32 lanes) or ZMM
// (AVX-512, 16 lanes).
type Width int

const (
	YMM Width = 32 // bytes
	ZMM Width = 64
)

// Lanes is the number of float32 in a register of width w.
func (w Width) Lanes() int { return int(w) / 4 }

// Reg returns a new virtual register of width w.
func (w Width) Reg() reg.VecVirtual {
	if w == ZMM {
		return build.ZMM()
	}
	return build.YMM()
}

// Regs returns n new virtual registers of width w.
func (w Width) Regs(n int) []reg.VecVirtual {
	rs := make([]reg.VecVirtual, n)
	for j := range rs {
		rs[j] = w.Reg()
	}
	return rs
}

// Half returns the register of half the width that is the low half of r:
// the XMM of a YMM, the YMM of a ZMM.
func (w Width) Half(r reg.VecVirtual) reg.VecVirtual {
	if w == ZMM {
		return r.AsY().(reg.VecVirtual)
	}
	return r.AsX().(reg.VecVirtual)
}

// Comparison predicates of VCMPPS: ordered predicates are false when either
// operand is NaN; quiet ones raise no exception for a quiet NaN.
const (
	CmpEQOQ = 0x00 // equal
	CmpLTOQ = 0x11 // less than
)

// RoundNearest is VRNDSCALEPS's immediate for rounding to the nearest
// integer, ties to even, keeping no fraction bits.
const RoundNearest = 0x00

// ParamAddr returns the address of the scalar argument name of the current
// function.
func ParamAddr(name string) operand.Mem {
	b, err := build.Param(name).Resolve()
	if err != nil {
		panic(fmt.Sprintf("parameter %s: %v", name, err))
	}
	return b.Addr
}

// Broadcast loads the float32 argument name into every lane of a new
// register of width w.
func Broadcast(w Width, name string) reg.VecVirtual {
	r := w.Reg()
	build.VBROADCASTSS(ParamAddr(name), r)
	return r
}

// Slices loads the base pointers of the slice arguments names of the current
// function, and the length of the first: kernels whose slices all have one
// length take it from there.
func Slices(names ...string) (bases []reg.Register, n reg.Register) {
	for _, name := range names {
		bases = append(bases, build.Load(build.Param(name).Base(), build.GP64()))
	}
	return bases, build.Load(build.Param(names[0]).Len(), build.GP64())
}

// Bit patterns of float32 values and masks.
const (
	SignBit = 0x80000000 // the sign
	AbsMask = 0x7fffffff // all but the sign
	One     = 0x3f800000 // 1
)

// Fold adds the registers rs pairwise in a fixed tree, rs[1] into rs[0],
// rs[3] into rs[2], …, then the sums likewise, with add(src, dst) emitting
// dst += src, and returns the register holding the total.
func Fold(rs []reg.VecVirtual, add func(src, dst reg.VecVirtual)) reg.VecVirtual {
	for len(rs) > 1 {
		var next []reg.VecVirtual
		for k := 0; k+1 < len(rs); k += 2 {
			add(rs[k+1], rs[k])
			next = append(next, rs[k])
		}
		if len(rs)%2 == 1 {
			next = append(next, rs[len(rs)-1])
		}
		rs = next
	}
	return rs[0]
}
