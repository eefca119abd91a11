package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Constants and polynomial helpers of the fused kernels' own formulas (the KL
// term's h, the float64 sums). e^x, e^x − 1 and ln(1+x) come from the shared
// emitters of asm/internal/vecmath.

// consts holds one 32-byte RODATA vector per distinct constant.
var consts = map[string]Mem{}

// splat returns a memory operand holding 8 copies of the 32-bit pattern.
func splat(bits uint32) Mem {
	name := fmt.Sprintf("fusedc_%08x", bits)
	if m, ok := consts[name]; ok {
		return m
	}
	m := GLOBL(name, RODATA|NOPTR)
	for k := range lanes {
		DATA(4*k, U32(bits))
	}
	consts[name] = m
	return m
}

// f32 returns a memory operand holding 8 copies of v.
func f32(v float32) Mem { return splat(math.Float32bits(v)) }

// Coefficients fitted by Chebyshev interpolation and rounded to float32; the
// stated error includes that rounding.
var (
	// klQ: (e^x − 1 − x)/x² on −1 ≤ x ≤ 2, relative error 0.33 u.
	klQ = []uint32{0x3f000000, 0x3e2aaaad, 0x3d2aaaa8, 0x3c08878a, 0x3ab60eb9, 0x3950761f, 0x37ce07a0, 0x362da546, 0x34e7e74a}
)

// horner returns, for each x, c[0] + x·(c[1] + x·(…)) with the coefficients
// from memory, emitting each step for all xs before the next so that the
// independent chains overlap.
func horner(xs []reg.VecVirtual, c []uint32) []reg.VecVirtual {
	ps := make([]reg.VecVirtual, len(xs))
	for j := range xs {
		ps[j] = YMM()
		VMOVUPS(splat(c[len(c)-1]), ps[j])
	}
	for k := len(c) - 2; k >= 0; k-- {
		for j, x := range xs {
			VFMADD213PS(splat(c[k]), x, ps[j]) // p = x·p + c[k]
		}
	}
	return ps
}

const (
	one    = 0x3f800000
	signBt = 0x80000000
)

// cvtAdd widens the 8 float32 lanes of x to float64 and adds them to the
// accumulators lo (lanes 0–3) and hi (lanes 4–7); with square set it adds
// their squares instead (exact products, one rounding each).
func cvtAdd(x reg.VecVirtual, lo, hi reg.VecVirtual, square bool) {
	xh := XMM()
	VEXTRACTF128(Imm(1), x, xh)
	a, b := YMM(), YMM()
	VCVTPS2PD(x.AsX(), a)
	VCVTPS2PD(xh, b)
	if square {
		VFMADD231PD(a, a, lo)
		VFMADD231PD(b, b, hi)
		return
	}
	VADDPD(a, lo, lo)
	VADDPD(b, hi, hi)
}
