package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The Adam epilogue performs, on each element of the tile with g its
// accumulator, the float32 operations of package kernels' AdamStep in the
// same order and without fusing, so that it gives the same bits:
//
//	m = β1·m + (1−β1)·g
//	v = β2·v + ((1−β2)·g)·g
//	w = w + (negStep·m)/(√v + epsS)

// adamEpilogue emits the update of the rows×cols corner of w, m and v (laid
// out as C: leading dimension ldc) from the accumulators.
func (g *kernel) adamEpilogue(ldc reg.Register) {
	pw := Load(Param("w").Base(), GP64())
	pm := Load(Param("m").Base(), GP64())
	pv := Load(Param("v").Base(), GP64())
	rows := Load(Param("rows"), GP64())
	done := g.prefix + "_done"
	if g.t.isa == avx512 {
		g.adam512(pw, pm, pv, rows, ldc, done)
	} else {
		g.adam256(pw, pm, pv, rows, ldc, done)
	}
	Label(done)
}

// adam512 updates through the opmasks, with the scalars as embedded
// broadcasts: beside 28 accumulators only three temporaries are free. A
// mixed tile's YMM accumulators are updated as ZMM registers whose upper
// halves the VEX FMAs zeroed; their masks keep at most 8 lanes.
func (g *kernel) adam512(pw, pm, pv, rows, ldc reg.Register, done string) {
	var tm, tv, tt reg.Register
	if g.t.mixed() {
		tm, tv, tt = reg.Z12, reg.Z13, reg.Z14 // the B and broadcast registers, free after the k loop
	} else {
		tm, tv, tt = ZMM(), ZMM(), ZMM()
	}
	for i := range g.t.mr {
		rowGuard(i, rows, done, ldc, pw, pm, pv)
		off := 0
		for h, w := range g.t.parts {
			gr, k := g.acc[i][h], g.masks[h]
			at := func(p reg.Register) Mem { return Mem{Base: p, Disp: 4 * off} }
			VMOVUPS_Z(at(pm), k, tm)
			VMULPS_BCST(paramAddr("beta1"), tm, tm)
			VMULPS_BCST(paramAddr("omb1"), gr, tt)
			VADDPS(tt, tm, tm)
			VMOVUPS_Z(at(pv), k, tv)
			VMULPS_BCST(paramAddr("beta2"), tv, tv)
			VMULPS_BCST(paramAddr("omb2"), gr, tt)
			VMULPS(gr, tt, tt)
			VADDPS(tt, tv, tv)
			VMOVUPS(tm, k, at(pm))
			VMOVUPS(tv, k, at(pv))
			VSQRTPS(tv, tv)
			VADDPS_BCST(paramAddr("epsS"), tv, tv)
			VMULPS_BCST(paramAddr("negStep"), tm, tm)
			VDIVPS(tv, tm, tm)
			VMOVUPS_Z(at(pw), k, tt)
			VADDPS(tm, tt, tt)
			VMOVUPS(tt, k, at(pw))
			off += w
		}
	}
}

// adam256 parks the accumulators on the stack, which frees the sixteen YMM
// registers for the update; full tiles move plainly, partial ones through
// VMASKMOVPS.
func (g *kernel) adam256(pw, pm, pv, rows, ldc reg.Register, done string) {
	t := g.t
	nr := t.nr()
	tile := AllocLocal(t.mr * nr * 4)
	for i := range g.acc {
		for h, r := range g.acc[i] {
			VMOVUPS(r, tile.Offset((i*nr+8*h)*4))
		}
	}
	masked := g.prefix + "_masked"
	CMPQ(paramAddr("cols"), U8(nr))
	JNE(LabelRef(masked))
	update := func(masks []reg.VecVirtual, pw, pm, pv reg.Register) {
		load := func(p reg.Register, h int, dst reg.Register) {
			if masks == nil {
				VMOVUPS(Mem{Base: p, Disp: 32 * h}, dst)
			} else {
				VMASKMOVPS(Mem{Base: p, Disp: 32 * h}, masks[h], dst)
			}
		}
		store := func(src, p reg.Register, h int) {
			if masks == nil {
				VMOVUPS(src, Mem{Base: p, Disp: 32 * h})
			} else {
				VMASKMOVPS(src, masks[h], Mem{Base: p, Disp: 32 * h})
			}
		}
		scalar := func(name string) reg.Register {
			c := YMM()
			VBROADCASTSS(paramAddr(name), c)
			return c
		}
		for i := range t.mr {
			rowGuard(i, rows, done, ldc, pw, pm, pv)
			for h := range t.parts {
				gr, tm, tv, tt := YMM(), YMM(), YMM(), YMM()
				VMOVUPS(tile.Offset((i*nr+8*h)*4), gr)
				load(pm, h, tm)
				VMULPS(scalar("beta1"), tm, tm)
				VMULPS(scalar("omb1"), gr, tt)
				VADDPS(tt, tm, tm)
				load(pv, h, tv)
				VMULPS(scalar("beta2"), tv, tv)
				VMULPS(scalar("omb2"), gr, tt)
				VMULPS(gr, tt, tt)
				VADDPS(tt, tv, tv)
				store(tm, pm, h)
				store(tv, pv, h)
				VSQRTPS(tv, tv)
				VADDPS(scalar("epsS"), tv, tv)
				VMULPS(scalar("negStep"), tm, tm)
				VDIVPS(tv, tm, tm)
				load(pw, h, tt)
				VADDPS(tm, tt, tt)
				store(tt, pw, h)
			}
		}
	}
	fw, fm, fv := GP64(), GP64(), GP64()
	MOVQ(pw, fw)
	MOVQ(pm, fm)
	MOVQ(pv, fv)
	update(nil, fw, fm, fv)
	JMP(LabelRef(done))
	Label(masked)
	update(g.avx2Masks(), pw, pm, pv)
}
