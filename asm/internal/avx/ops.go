package avx

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The arithmetic of width w on a first operand c that is a constant, from
// the pool or in a register, so that one emitter serves both widths: a ZMM
// instruction reads a pool constant (a 32-byte block) by embedded broadcast,
// its _BCST form; anything else reads c as it is.

// SetConst sets every lane of dst to the constant c (a register is copied).
func (w Width) SetConst(c operand.Op, dst reg.VecVirtual) {
	if r, ok := c.(reg.Register); ok {
		build.VMOVAPS(r, dst)
		return
	}
	w.withConst(build.VMOVUPS, build.VBROADCASTSS, c, dst)
}

// VADDPS emits dst = x + c.
func (w Width) VADDPS(c operand.Op, x, dst reg.VecVirtual) {
	w.withConst(build.VADDPS, build.VADDPS_BCST, c, x, dst)
}

// VMULPS emits dst = x·c.
func (w Width) VMULPS(c operand.Op, x, dst reg.VecVirtual) {
	w.withConst(build.VMULPS, build.VMULPS_BCST, c, x, dst)
}

// VFMADD213PS emits dst = x·dst + c.
func (w Width) VFMADD213PS(c operand.Op, x, dst reg.VecVirtual) {
	w.withConst(build.VFMADD213PS, build.VFMADD213PS_BCST, c, x, dst)
}

// VFNMADD231PS emits dst = dst − x·c.
func (w Width) VFNMADD231PS(c operand.Op, x, dst reg.VecVirtual) {
	w.withConst(build.VFNMADD231PS, build.VFNMADD231PS_BCST, c, x, dst)
}

// withConst emits plain(c, ops...), or broadcast(c, ops...) for a ZMM and a
// constant in memory.
func (w Width) withConst(plain, broadcast func(...operand.Op), c operand.Op, ops ...operand.Op) {
	if _, mem := c.(operand.Mem); w == ZMM && mem {
		plain = broadcast
	}
	plain(append([]operand.Op{c}, ops...)...)
}
