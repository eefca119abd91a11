// Command gemm generates the SGEMM micro-kernels into package kernels: a 6×16
// AVX2+FMA kernel and a 12×32 AVX-512F kernel. Both multiply a packed panel of
// A (k steps of MR values, a[p*MR+i]) by a packed panel of B (k steps of NR
// values, b[p*NR+j]) and write C = alpha·A·B + beta·C for the rows×cols
// corner of the tile, never reading C when beta == 0. Each element of the tile
// is one FMA chain over p in order, whatever the tile's size, so edge tiles
// round exactly like full ones.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")
	laneIndex := laneIndexData()
	for _, amode := range []int{aPacked, aTrans, aRows} {
		kernelAVX2(laneIndex, 6, 2, amode)
		kernelAVX2(laneIndex, 4, 3, amode)
		kernelAVX512(12, 2, amode)
		kernelAVX512Mixed(12, 1, amode)
		kernelAVX512Mixed(8, 2, amode)
	}
	packTranspose(8)
	packTranspose(4)
	packCopy()
	Generate()
}

const signature = "func(k int, a []float32, lda int, b, c []float32, ldc, rows, cols int, alpha, beta float32)"

// How a kernel reads A. Packed kernels ignore lda; the two in-place forms
// let the driver skip packing A when each of its panels is used once (n fits
// one B panel), as in the VAE's 400→20/40 layers.
const (
	aPacked = iota // a[p*mr+i], a packed panel
	aTrans         // a[p*lda+i]: A transposed, read in place
	aRows          // a[i*lda+p]: A as stored, read in place
)

var aModeSuffix = []string{"", "AT", "AN"}

// aSource addresses A[i] at k step u of a pass of the k loop and moves A on
// by whole k steps.
type aSource struct {
	mode, mr  int
	pa        reg.Register   // aPacked, aTrans: the current k step
	bases     []reg.Register // aRows: rows 0, 4, 8 at the current k step
	lda, lda3 reg.Register   // aTrans, aRows: lda and 3·lda in bytes
}

// loadA loads the A pointer(s) and strides for mode.
func loadA(mode, mr int) aSource {
	s := aSource{mode: mode, mr: mr}
	pa := Load(Param("a").Base(), GP64())
	if mode == aPacked {
		s.pa = pa
		return s
	}
	s.lda = Load(Param("lda"), GP64())
	SHLQ(U8(2), s.lda)
	s.lda3 = GP64()
	LEAQ(Mem{Base: s.lda, Index: s.lda, Scale: 2}, s.lda3)
	if mode == aTrans {
		s.pa = pa
		return s
	}
	s.bases = []reg.Register{pa}
	for r := 4; r < mr; r += 4 {
		b := GP64()
		LEAQ(Mem{Base: s.bases[len(s.bases)-1], Index: s.lda, Scale: 4}, b)
		s.bases = append(s.bases, b)
	}
	return s
}

// strided returns base + j·stride (j < 4) + disp, with stride and 3·stride
// in registers.
func strided(base, stride, stride3 reg.Register, j, disp int) Mem {
	switch j {
	case 0:
		return Mem{Base: base, Disp: disp}
	case 1:
		return Mem{Base: base, Index: stride, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: base, Index: stride, Scale: 2, Disp: disp}
	}
	return Mem{Base: base, Index: stride3, Scale: 1, Disp: disp}
}

func (s aSource) at(u, i int) Mem {
	switch s.mode {
	case aPacked:
		return Mem{Base: s.pa, Disp: (u*s.mr + i) * 4}
	case aTrans:
		return strided(s.pa, s.lda, s.lda3, u, 4*i)
	}
	return strided(s.bases[i/4], s.lda, s.lda3, i%4, 4*u)
}

func (s aSource) advance(steps int) {
	switch s.mode {
	case aPacked:
		ADDQ(U32(steps*s.mr*4), s.pa)
	case aTrans:
		if steps == 4 {
			LEAQ(Mem{Base: s.pa, Index: s.lda, Scale: 4}, s.pa)
		} else {
			for ; steps > 0; steps-- {
				ADDQ(s.lda, s.pa)
			}
		}
	default:
		for _, b := range s.bases {
			ADDQ(U8(4*steps), b)
		}
	}
}

// unroll is how many k steps one pass of the main loop does; the pointer
// updates and the loop branch are paid once per pass.
const unroll = 4

// laneIndexData is the int32 sequence 0..31, compared against cols to build
// the AVX2 store masks of partial tiles.
func laneIndexData() Mem {
	m := GLOBL("gemmLaneIndex", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(4*i, U32(i))
	}
	return m
}

func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// betaIsZero jumps to label when beta is +0 or -0, comparing bits so that a
// NaN beta is not taken for zero.
func betaIsZero(label string) {
	bits := GP32()
	MOVL(paramAddr("beta"), bits)
	ANDL(U32(0x7fffffff), bits)
	JZ(LabelRef(label))
}

// kLoop emits the k loop: the main loop does unroll steps per pass, a tail
// loop the rest. step(u) emits the step u places past the pointers.
func kLoop(prefix string, kk reg.Register, a aSource, pb reg.Register, bStep int, step func(u int)) {
	Label(prefix + "_k4")
	CMPQ(kk, U8(unroll))
	JL(LabelRef(prefix + "_k1"))
	for u := 0; u < unroll; u++ {
		step(u)
	}
	a.advance(unroll)
	ADDQ(U32(unroll*bStep), pb)
	SUBQ(U8(unroll), kk)
	JMP(LabelRef(prefix + "_k4"))

	Label(prefix + "_k1")
	TESTQ(kk, kk)
	JZ(LabelRef(prefix + "_kdone"))
	step(0)
	a.advance(1)
	ADDQ(U32(bStep), pb)
	DECQ(kk)
	JMP(LabelRef(prefix + "_k1"))
	Label(prefix + "_kdone")
}

// prefetchC touches the rows of the C tile so that the write-back finds them
// in cache: the k loop that follows hides the latency.
func prefetchC(pc, ldc reg.Register, rows, lines int) {
	p := GP64()
	MOVQ(pc, p)
	for i := 0; i < rows; i++ {
		for l := 0; l < lines; l++ {
			PREFETCHT0(Mem{Base: p, Disp: 64 * l})
		}
		if i < rows-1 {
			ADDQ(ldc, p)
		}
	}
}

// kernelAVX2 emits the mr×(8·nv) AVX2 kernel: mr·nv accumulators, nv
// vectors of B and one broadcast of A in the sixteen YMM registers.
func kernelAVX2(laneIndex Mem, mr, nv int, amode int) {
	nr := 8 * nv
	name := fmt.Sprintf("sgemmKernel%dx%dAVX2%s", mr, nr, aModeSuffix[amode])
	prefix := fmt.Sprintf("avx2_%dx%d%s", mr, nr, aModeSuffix[amode])
	TEXT(name, NOSPLIT, signature)
	Doc(fmt.Sprintf("%s sets C = alpha·A·B + beta·C on the rows×cols (≤ %d×%d) corner of a tile", name, mr, nr),
		fmt.Sprintf("of C with leading dimension ldc, from k steps of packed A (a[p*%d+i]) and packed B", mr),
		fmt.Sprintf("(b[p*%d+j]). C is not read when beta is ±0.", nr))
	tile := AllocLocal(mr * nr * 4)

	kk := Load(Param("k"), GP64())
	pa := loadA(amode, mr)
	pb := Load(Param("b").Base(), GP64())
	pc := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	prefetchC(pc, ldc, mr, (nr*4+63)/64)

	acc := make([][]reg.VecVirtual, mr)
	for i := range acc {
		acc[i] = make([]reg.VecVirtual, nv)
		for h := range acc[i] {
			acc[i][h] = YMM()
			VXORPS(acc[i][h], acc[i][h], acc[i][h])
		}
	}
	kLoop(prefix, kk, pa, pb, nr*4, func(u int) {
		bv := make([]reg.VecVirtual, nv)
		for h := range bv {
			bv[h] = YMM()
			VMOVUPS(Mem{Base: pb, Disp: u*nr*4 + 32*h}, bv[h])
		}
		for i := 0; i < mr; i++ {
			t := YMM()
			VBROADCASTSS(pa.at(u, i), t)
			for h := range bv {
				VFMADD231PS(bv[h], t, acc[i][h])
			}
		}
	})

	// Sixteen YMM registers cannot hold the accumulators, alpha, beta and
	// the store masks at once: park the tile on the stack and write it back
	// row by row from there.
	for i := range acc {
		for h := range acc[i] {
			VMOVUPS(acc[i][h], tile.Offset(i*nr*4+h*32))
		}
	}
	Comment("Write back rows×cols.")
	rows := Load(Param("rows"), GP64())
	cols := Load(Param("cols"), GP64())
	alpha, beta := YMM(), YMM()
	VBROADCASTSS(paramAddr("alpha"), alpha)
	VBROADCASTSS(paramAddr("beta"), beta)
	tp := GP64()
	LEAQ(tile, tp)

	done := prefix + "_done"
	row := func(label string, masked, readC bool, masks []reg.VecVirtual) {
		Label(label)
		for h := 0; h < nv; h++ {
			t := YMM()
			VMULPS(Mem{Base: tp, Disp: 32 * h}, alpha, t)
			dst := Mem{Base: pc, Disp: 32 * h}
			if readC {
				old := YMM()
				if masked {
					VMASKMOVPS(dst, masks[h], old)
				} else {
					VMOVUPS(dst, old)
				}
				VFMADD231PS(old, beta, t)
			}
			if masked {
				VMASKMOVPS(t, masks[h], dst)
			} else {
				VMOVUPS(t, dst)
			}
		}
		ADDQ(U32(nr*4), tp)
		ADDQ(ldc, pc)
		DECQ(rows)
		JNZ(LabelRef(label))
		JMP(LabelRef(done))
	}

	CMPQ(cols, U8(nr))
	JNE(LabelRef(prefix + "_masked"))
	betaIsZero(prefix + "_full_nobeta")
	row(prefix+"_full_beta", false, true, nil)
	row(prefix+"_full_nobeta", false, false, nil)

	Label(prefix + "_masked")
	n := YMM()
	VMOVQ(cols, n.AsX())
	VPBROADCASTD(n.AsX(), n)
	// lane < cols ⇔ cols > lane: all-ones lanes are stored, zero lanes are not.
	masks := make([]reg.VecVirtual, nv)
	for h := range masks {
		masks[h] = YMM()
		VPCMPGTD(laneIndex.Offset(32*h), n, masks[h])
	}
	betaIsZero(prefix + "_masked_nobeta")
	row(prefix+"_masked_beta", true, true, masks)
	row(prefix+"_masked_nobeta", true, false, masks)

	Label(done)
	VZEROUPPER()
	RET()
}

// kernelAVX512 emits the mr×(16·nv) AVX-512F kernel: mr·nv accumulators, nv
// vectors of B and broadcasts of A in the 32 ZMM registers; partial tiles are
// written through opmask registers.
func kernelAVX512(mr, nv int, amode int) {
	nr := 16 * nv
	name := fmt.Sprintf("sgemmKernel%dx%dAVX512%s", mr, nr, aModeSuffix[amode])
	prefix := fmt.Sprintf("avx512_%dx%d%s", mr, nr, aModeSuffix[amode])
	TEXT(name, NOSPLIT, signature)
	Doc(fmt.Sprintf("%s sets C = alpha·A·B + beta·C on the rows×cols (≤ %d×%d) corner of a tile", name, mr, nr),
		fmt.Sprintf("of C with leading dimension ldc, from k steps of packed A (a[p*%d+i]) and packed B", mr),
		fmt.Sprintf("(b[p*%d+j]). C is not read when beta is ±0.", nr))

	if nv > 3 {
		panic("the column mask is built in 64 bits: nr ≤ 48")
	}
	kk := Load(Param("k"), GP64())
	pa := loadA(amode, mr)
	pb := Load(Param("b").Base(), GP64())
	pc := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	prefetchC(pc, ldc, mr, nv)

	acc := make([][]reg.VecVirtual, mr)
	for i := range acc {
		acc[i] = make([]reg.VecVirtual, nv)
		for h := range acc[i] {
			acc[i][h] = ZMM()
			VPXORD(acc[i][h], acc[i][h], acc[i][h]) // VXORPS on ZMM would need AVX512DQ
		}
	}
	kLoop(prefix, kk, pa, pb, nr*4, func(u int) {
		bv := make([]reg.VecVirtual, nv)
		for h := range bv {
			bv[h] = ZMM()
			VMOVUPS(Mem{Base: pb, Disp: u*nr*4 + 64*h}, bv[h])
		}
		for i := 0; i < mr; i++ {
			t := ZMM()
			VBROADCASTSS(pa.at(u, i), t)
			for h := range bv {
				VFMADD231PS(bv[h], t, acc[i][h])
			}
		}
	})

	parts := make([][]reg.Register, mr)
	for i := range acc {
		for _, r := range acc[i] {
			parts[i] = append(parts[i], r)
		}
	}
	avx512WriteBack(prefix, parts, ZMM(), ZMM(), ZMM())
}

// kernelAVX512Mixed emits the mr×(16·nz+8) AVX-512F kernel for narrow
// products (n or m of 20 or 40 in the VAE), where 16-column vectors would pad
// a third of the work away: each row holds nz ZMM accumulators and one YMM
// accumulator. The YMM FMAs are VEX-encoded, so AVX512VL is not needed, but
// their registers must then be among the first sixteen: registers are
// assigned by hand.
//
//	Y0..Y(mr-1)    YMM accumulators, one per row
//	Y12            B, columns 16·nz..16·nz+7
//	Z13            A broadcast (its low half Y13 feeds the YMM FMAs)
//	Z14, Z15       B, columns 0..16·nz-1
//	Z16..          ZMM accumulators, nz per row
func kernelAVX512Mixed(mr, nz int, amode int) {
	nr := 16*nz + 8
	if mr > 12 || mr*nz > 16 {
		panic("too many accumulators for the register plan")
	}
	name := fmt.Sprintf("sgemmKernel%dx%dAVX512%s", mr, nr, aModeSuffix[amode])
	prefix := fmt.Sprintf("avx512_%dx%d%s", mr, nr, aModeSuffix[amode])
	TEXT(name, NOSPLIT, signature)
	Doc(fmt.Sprintf("%s sets C = alpha·A·B + beta·C on the rows×cols (≤ %d×%d) corner of a tile", name, mr, nr),
		fmt.Sprintf("of C with leading dimension ldc, from k steps of packed A (a[p*%d+i]) and packed B", mr),
		fmt.Sprintf("(b[p*%d+j]). C is not read when beta is ±0.", nr))

	kk := Load(Param("k"), GP64())
	pa := loadA(amode, mr)
	pb := Load(Param("b").Base(), GP64())
	pc := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	prefetchC(pc, ldc, mr, (nr*4+63)/64)

	yacc := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7, reg.Y8, reg.Y9, reg.Y10, reg.Y11}
	zall := []reg.VecPhysical{reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
		reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31}
	yb, bc := reg.Y12, reg.Z13
	zb := []reg.VecPhysical{reg.Z14, reg.Z15}
	zacc := func(i, h int) reg.VecPhysical { return zall[i*nz+h] }

	for i := 0; i < mr; i++ {
		VXORPS(yacc[i], yacc[i], yacc[i]) // VEX: clears the whole ZMM
		for h := 0; h < nz; h++ {
			VPXORD(zacc(i, h), zacc(i, h), zacc(i, h))
		}
	}
	kLoop(prefix, kk, pa, pb, nr*4, func(u int) {
		for h := 0; h < nz; h++ {
			VMOVUPS(Mem{Base: pb, Disp: u*nr*4 + 64*h}, zb[h])
		}
		VMOVUPS(Mem{Base: pb, Disp: u*nr*4 + 64*nz}, yb)
		for i := 0; i < mr; i++ {
			VBROADCASTSS(pa.at(u, i), bc)
			for h := 0; h < nz; h++ {
				VFMADD231PS(zb[h], bc, zacc(i, h))
			}
			VFMADD231PS(yb, bc.AsY(), yacc[i])
		}
	})

	// The YMM accumulators are written back as ZMM registers whose upper
	// half the VEX instructions zeroed, through masks of at most 8 lanes.
	parts := make([][]reg.Register, mr)
	for i := range parts {
		for h := 0; h < nz; h++ {
			parts[i] = append(parts[i], zacc(i, h))
		}
		parts[i] = append(parts[i], yacc[i].AsZ())
	}
	avx512WriteBack(prefix, parts, reg.Z12, reg.Z13, reg.Z14)
}

// avx512WriteBack emits the write-back of an AVX-512 kernel whose row i of
// accumulators is parts[i] (ZMM registers, 16 columns each, the last
// possibly narrower), with alpha, beta and tmp free ZMM registers. Column
// masks come from cols; rows past rows are skipped. Then it returns.
func avx512WriteBack(prefix string, parts [][]reg.Register, alpha, beta, tmp reg.Register) {
	mr, nv := len(parts), len(parts[0])
	if nv > 3 {
		panic("the column mask is built in 64 bits: nr ≤ 48")
	}
	pc := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)

	Comment("Write back rows×cols through one lane mask per vector of 16 columns.")
	Load(Param("cols"), reg.RCX)
	bits := GP64()
	MOVQ(U32(1), bits)
	SHLQ(reg.CL, bits)
	DECQ(bits)
	masks := make([]reg.Register, nv)
	for h := range masks {
		masks[h] = K()
		KMOVW(bits.As32(), masks[h])
		if h < nv-1 {
			SHRQ(U8(16), bits)
		}
	}
	rows := Load(Param("rows"), GP64())
	VBROADCASTSS(paramAddr("alpha"), alpha)
	VBROADCASTSS(paramAddr("beta"), beta)

	done := prefix + "_done"
	tile := func(readC bool) {
		for i := 0; i < mr; i++ {
			if i > 0 {
				CMPQ(rows, U8(i))
				JLE(LabelRef(done))
				ADDQ(ldc, pc)
			}
			for h, k := range masks {
				t := parts[i][h]
				VMULPS(alpha, t, t)
				dst := Mem{Base: pc, Disp: 64 * h}
				if readC {
					VMOVUPS_Z(dst, k, tmp)
					VFMADD231PS(tmp, beta, t)
				}
				VMOVUPS(t, k, dst)
			}
		}
		JMP(LabelRef(done))
	}
	betaIsZero(prefix + "_nobeta")
	tile(true)
	Label(prefix + "_nobeta")
	tile(false)

	Label(done)
	VZEROUPPER()
	RET()
}

// packTranspose emits packTranspose{rows}AVX, which packs rows rows of a
// row-major source into a panel stored k step by k step:
// dst[p*width+r] = src[r*ld+p] for r < rows and p < kc, kc a multiple of 8.
// It moves 8 k steps at a time as a rows×8 block transposed in registers
// (unpack, shuffle, 128-bit permute), far faster than element by element.
func packTranspose(rows int) {
	name := fmt.Sprintf("packTranspose%dAVX", rows)
	TEXT(name, NOSPLIT, "func(dst, src []float32, ld, kc, width int)")
	Doc(fmt.Sprintf("%s sets dst[p*width+r] = src[r*ld+p] for r < %d and p < kc, kc a multiple of 8.", name, rows))
	pd := Load(Param("dst").Base(), GP64())
	ps := Load(Param("src").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	kc := Load(Param("kc"), GP64())
	wb := Load(Param("width"), GP64())
	SHLQ(U8(2), wb)
	ld3, wb3 := GP64(), GP64()
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	LEAQ(Mem{Base: wb, Index: wb, Scale: 2}, wb3)
	// rowAt and outAt address rows 0..7 and k steps 0..7 from two bases
	// four apart, with the index registers ld, 2·ld, 3·ld (wb likewise).
	ps4, pd4 := GP64(), GP64()
	rowAt := func(r int) Mem {
		base := ps
		if r >= 4 {
			base = ps4
		}
		switch r % 4 {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: ld, Scale: 1}
		case 2:
			return Mem{Base: base, Index: ld, Scale: 2}
		}
		return Mem{Base: base, Index: ld3, Scale: 1}
	}
	outAt := func(q int) Mem {
		base := pd
		if q >= 4 {
			base = pd4
		}
		switch q % 4 {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: wb, Scale: 1}
		case 2:
			return Mem{Base: base, Index: wb, Scale: 2}
		}
		return Mem{Base: base, Index: wb3, Scale: 1}
	}
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
			VSHUFPS(U8(0x44), hi, lo, u[g+2*h])
			VSHUFPS(U8(0xee), hi, lo, u[g+2*h+1])
		}
	}
	for q := 0; q < 4; q++ {
		if rows == 4 {
			VMOVUPS(u[q].AsX(), outAt(q))
			VEXTRACTF128(U8(1), u[q], outAt(q+4))
			continue
		}
		lo, hi := YMM(), YMM()
		VPERM2F128(U8(0x20), u[4+q], u[q], lo)
		VPERM2F128(U8(0x31), u[4+q], u[q], hi)
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

// packCopy emits packCopyAVX, which packs a panel whose k steps are
// contiguous runs of the source: dst[p*width+i] = src[p*ld+i] for i < rows
// and p < kc. Each run moves in 32-, 8-, 4- and 1-float pieces: a call per
// run to memmove would cost more than the copy.
func packCopy() {
	TEXT("packCopyAVX", NOSPLIT, "func(dst, src []float32, ld, rows, kc, width int)")
	Doc("packCopyAVX sets dst[p*width+i] = src[p*ld+i] for i < rows and p < kc.")
	pd := Load(Param("dst").Base(), GP64())
	ps := Load(Param("src").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	rows := Load(Param("rows"), GP64())
	kc := Load(Param("kc"), GP64())
	wb := Load(Param("width"), GP64())
	SHLQ(U8(2), wb)

	Label("copy_step")
	DECQ(kc)
	JS(LabelRef("copy_done"))
	i := GP64()
	XORQ(i, i)
	end := GP64()

	Label("copy_32")
	LEAQ(Mem{Base: i, Disp: 32}, end)
	CMPQ(end, rows)
	JA(LabelRef("copy_8"))
	for q := 0; q < 4; q++ {
		y := YMM()
		VMOVUPS(Mem{Base: ps, Index: i, Scale: 4, Disp: 32 * q}, y)
		VMOVUPS(y, Mem{Base: pd, Index: i, Scale: 4, Disp: 32 * q})
	}
	MOVQ(end, i)
	JMP(LabelRef("copy_32"))

	Label("copy_8")
	LEAQ(Mem{Base: i, Disp: 8}, end)
	CMPQ(end, rows)
	JA(LabelRef("copy_4"))
	y := YMM()
	VMOVUPS(Mem{Base: ps, Index: i, Scale: 4}, y)
	VMOVUPS(y, Mem{Base: pd, Index: i, Scale: 4})
	MOVQ(end, i)
	JMP(LabelRef("copy_8"))

	Label("copy_4")
	LEAQ(Mem{Base: i, Disp: 4}, end)
	CMPQ(end, rows)
	JA(LabelRef("copy_1"))
	x := XMM()
	VMOVUPS(Mem{Base: ps, Index: i, Scale: 4}, x)
	VMOVUPS(x, Mem{Base: pd, Index: i, Scale: 4})
	MOVQ(end, i)

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
