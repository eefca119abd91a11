package main

import (
	"fmt"

	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Selectors of the transposing shuffles. VSHUFPS takes, in each 128-bit lane,
// two elements of its first source then two of its second, two bits each:
// elements 0,1 | 0,1 or 2,3 | 2,3. VPERM2F128 joins the low (or high) 128-bit
// halves of its two sources.
const (
	shufLowPairs   = 0b01_00_01_00
	shufHighPairs  = 0b11_10_11_10
	permLowHalves  = 0x20
	permHighHalves = 0x31
)

// packTranspose emits packTranspose{rows}AVX, which packs rows rows of a
// row-major source into a panel stored k step by k step:
// dst[p*width+r] = src[r*ld+p] for r < rows and p < kc, kc a multiple of 8.
// It moves 8 k steps at a time as a rows×8 block transposed in registers
// (unpack, shuffle, 128-bit permute), far faster than element by element.
func packTranspose(rows int) {
	name := fmt.Sprintf("packTranspose%dAVX", rows)
	TEXT(name, NOSPLIT, "func(dst, src []float32, ld, kc, width int)")
	Pragma("noescape")
	avx.Doc(fmt.Sprintf("%s sets dst[p*width+r] = src[r*ld+p] for r < %d and p < kc, kc a multiple of 8.", name, rows))
	pd, ps, ld, wb, ints := packArgs("kc")
	kc := ints[0]
	ld3, wb3 := GP64(), GP64()
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	LEAQ(Mem{Base: wb, Index: wb, Scale: 2}, wb3)
	// rowAt and outAt address rows 0..7 and k steps 0..7 from two bases
	// four apart, with the index registers ld, 2·ld, 3·ld (wb likewise).
	ps4, pd4 := GP64(), GP64()
	rowAt := func(r int) Mem { return fourApart(ps, ps4, ld, ld3, r) }
	outAt := func(q int) Mem { return fourApart(pd, pd4, wb, wb3, q) }
	if rows == 8 {
		LEAQ(Mem{Base: ps, Index: ld, Scale: 4}, ps4)
	}
	prefix := fmt.Sprintf("pack%d", rows)
	Label(prefix + "_loop")
	SUBQ(U8(8), kc)
	JB(LabelRef(prefix + "_done"))
	LEAQ(Mem{Base: pd, Index: wb, Scale: 4}, pd4)

	y := make([]reg.VecVirtual, rows)
	for r := range y {
		y[r] = YMM()
		VMOVUPS(rowAt(r), y[r])
	}
	// Pairs of rows interleaved: t[2i] holds k steps 0,1 | 4,5 of rows
	// 2i and 2i+1, t[2i+1] k steps 2,3 | 6,7.
	t := make([]reg.VecVirtual, rows)
	for i := 0; i < rows; i += 2 {
		t[i], t[i+1] = YMM(), YMM()
		VUNPCKLPS(y[i+1], y[i], t[i])
		VUNPCKHPS(y[i+1], y[i], t[i+1])
	}
	// Quads of rows: u[4g+q] holds k step q | q+4 of rows 4g..4g+3.
	u := make([]reg.VecVirtual, rows)
	for g := 0; g < rows; g += 4 {
		for h := 0; h < 2; h++ {
			lo, hi := t[g+h], t[g+2+h]
			u[g+2*h], u[g+2*h+1] = YMM(), YMM()
			VSHUFPS(U8(shufLowPairs), hi, lo, u[g+2*h])
			VSHUFPS(U8(shufHighPairs), hi, lo, u[g+2*h+1])
		}
	}
	for q := 0; q < 4; q++ {
		if rows == 4 {
			VMOVUPS(u[q].AsX(), outAt(q))
			VEXTRACTF128(U8(1), u[q], outAt(q+4))
			continue
		}
		lo, hi := YMM(), YMM()
		VPERM2F128(U8(permLowHalves), u[4+q], u[q], lo)
		VPERM2F128(U8(permHighHalves), u[4+q], u[q], hi)
		VMOVUPS(lo, outAt(q))
		VMOVUPS(hi, outAt(q+4))
	}
	ADDQ(U8(32), ps)
	if rows == 8 {
		ADDQ(U8(32), ps4)
	}
	LEAQ(Mem{Base: pd4, Index: wb, Scale: 4}, pd)
	JMP(LabelRef(prefix + "_loop"))

	Label(prefix + "_done")
	VZEROUPPER()
	RET()
}

// packArgs loads the arguments of a packing routine in their order: the
// bases of dst and src, ld, the int arguments names, and width; ld and
// width as strides in bytes.
func packArgs(names ...string) (pd, ps, ld, wb reg.Register, ints []reg.Register) {
	pd = Load(Param("dst").Base(), GP64())
	ps = Load(Param("src").Base(), GP64())
	ld = Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	for _, name := range names {
		ints = append(ints, Load(Param(name), GP64()))
	}
	wb = Load(Param("width"), GP64())
	SHLQ(U8(2), wb)
	return pd, ps, ld, wb, ints
}

// fourApart addresses step i < 8 of stride from base lo (steps 0–3) or hi
// (steps 4–7), with stride and 3·stride in registers.
func fourApart(lo, hi, stride, stride3 reg.Register, i int) Mem {
	if i >= 4 {
		return strided(hi, stride, stride3, i-4, 0)
	}
	return strided(lo, stride, stride3, i, 0)
}

// 1<<copyAheadLog2 is how many k steps ahead packCopyAVX prefetches the
// source.
const copyAheadLog2 = 4

// packCopy emits packCopyAVX, which packs a panel whose k steps are
// contiguous runs of the source: dst[p*width+i] = src[p*ld+i] for i < rows
// and p < kc. Each run moves in 32-, 8-, 4- and 1-float pieces: a call per
// run to memmove would cost more than the copy.
func packCopy() {
	TEXT("packCopyAVX", NOSPLIT, "func(dst, src []float32, ld, rows, kc, width int)")
	Pragma("noescape")
	avx.Doc("packCopyAVX sets dst[p*width+i] = src[p*ld+i] for i < rows and p < kc.")
	pd, ps, ld, wb, ints := packArgs("rows", "kc")
	rows, kc := ints[0], ints[1]
	// The source's k steps are ld apart, mostly more than a cache line and
	// often more than a page, which the hardware prefetchers do not follow:
	// cold, each step would wait for memory. The first and last line of the
	// run 1<<copyAheadLog2 steps on are prefetched while the step is copied,
	// while that step is one of the panel's, so never outside src.
	ahead, last := GP64(), GP64()
	MOVQ(ld, ahead)
	SHLQ(U8(copyAheadLog2), ahead)
	ADDQ(ps, ahead)
	LEAQ(Mem{Base: rows, Disp: -1}, last)
	SHLQ(U8(2), last)

	Label("copy_step")
	DECQ(kc)
	JS(LabelRef("copy_done"))
	CMPQ(kc, U32(1<<copyAheadLog2))
	JB(LabelRef("copy_run"))
	PREFETCHT0(Mem{Base: ahead})
	PREFETCHT0(Mem{Base: ahead, Index: last, Scale: 1})
	Label("copy_run")
	ADDQ(ld, ahead)
	i := GP64()
	XORQ(i, i)
	end := GP64()

	// piece copies vecs registers of floats each while that many remain
	// before rows, then goes on to next; loop repeats it first.
	piece := func(name, next string, vecs int, vec func() reg.VecVirtual, floats int, loop bool) {
		Label(name)
		LEAQ(Mem{Base: i, Disp: vecs * floats}, end)
		CMPQ(end, rows)
		JA(LabelRef(next))
		for q := range vecs {
			v := vec()
			VMOVUPS(Mem{Base: ps, Index: i, Scale: 4, Disp: 4 * floats * q}, v)
			VMOVUPS(v, Mem{Base: pd, Index: i, Scale: 4, Disp: 4 * floats * q})
		}
		MOVQ(end, i)
		if loop {
			JMP(LabelRef(name))
		}
	}
	piece("copy_32", "copy_8", 4, YMM, 8, true)
	piece("copy_8", "copy_4", 1, YMM, 8, true)
	piece("copy_4", "copy_1", 1, XMM, 4, false)

	Label("copy_1")
	CMPQ(i, rows)
	JAE(LabelRef("copy_next"))
	v := GP32()
	MOVL(Mem{Base: ps, Index: i, Scale: 4}, v)
	MOVL(v, Mem{Base: pd, Index: i, Scale: 4})
	INCQ(i)
	JMP(LabelRef("copy_1"))

	Label("copy_next")
	ADDQ(ld, ps)
	ADDQ(wb, pd)
	JMP(LabelRef("copy_step"))

	Label("copy_done")
	VZEROUPPER()
	RET()
}
