package main

import (
	"fmt"
	"strings"

	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

type isa int

const (
	avx2 isa = iota
	avx512
)

func (s isa) String() string { return [...]string{"AVX2", "AVX512"}[s] }

// tile describes one micro-kernel: mr rows of C, each held in vectors of the
// given widths (8 floats for a YMM register, 16 for a ZMM one), in column
// order.
type tile struct {
	isa   isa
	mr    int
	parts []int
}

func (t tile) nr() int {
	n := 0
	for _, w := range t.parts {
		n += w
	}
	return n
}

func (t tile) shape() string { return fmt.Sprintf("%dx%d", t.mr, t.nr()) }

// mixed reports an AVX-512 tile with a YMM vector in its rows; its registers
// are assigned by hand (kernel.mixedRegisters).
func (t tile) mixed() bool { return t.isa == avx512 && t.parts[len(t.parts)-1] == 8 }

// How a kernel reads A. Packed kernels ignore lda; the two in-place forms let
// the driver skip packing A when each of its panels is used once (n fits one
// B panel), as in the VAE's 400→20 layers.
const (
	aPacked = iota // a[p*mr+i], a packed panel
	aTrans         // a[p*lda+i]: A transposed, read in place
	aRows          // a[i*lda+p]: A as stored, read in place
)

var aModeSuffix = []string{"", "AT", "AN"}

// emitted names the functions generated for one tile, by A mode, for the
// table.
type emitted struct {
	t     tile
	names [3]string
}

func (t tile) emit(laneIndex Mem) emitted {
	e := emitted{t: t}
	for mode := range e.names {
		e.names[mode] = t.kernel(laneIndex, mode)
	}
	return e
}

const signature = "func(k int, a []float32, lda int, b, c []float32, ldc, rows, cols int, beta float32)"

// kernel holds what the parts of one micro-kernel's emission share.
type kernel struct {
	t         tile
	prefix    string // of its labels
	laneIndex Mem
	acc       [][]reg.Register // [row][part]; the YMM part of a mixed tile as its ZMM
	masks     []reg.Register   // AVX-512: one opmask per part, from cols
}

// kernel emits one micro-kernel and returns its name.
func (t tile) kernel(laneIndex Mem, mode int) string {
	name := fmt.Sprintf("sgemmKernel%s%s%s", t.shape(), t.isa, aModeSuffix[mode])
	g := &kernel{t: t, prefix: strings.ToLower(name), laneIndex: laneIndex}
	TEXT(name, NOSPLIT, signature)
	Pragma("noescape")
	avx.Doc(fmt.Sprintf("%s sets the rows×cols (≤ %s) corner of the tile at c (leading dimension ldc) "+
		"to beta·C + A·B, one FMA chain per element, from k steps of %s and of packed B (b[p*%d+j]). "+
		"C is not read when beta is ±0.", name, t.shape(), aLayout(mode, t.mr), t.nr()))

	if t.isa == avx512 {
		g.masks = g.opmasks()
	}
	kk := Load(Param("k"), GP64())
	a := loadA(mode, t.mr)
	pb := Load(Param("b").Base(), GP64())
	pc := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	prefetchC(pc, ldc, t.mr, (t.nr()*4+63)/64)

	var bregs []reg.Register
	var bcast func(row int) reg.Register
	if t.mixed() {
		bregs, bcast = g.mixedRegisters()
	} else {
		g.virtualRegisters()
	}
	g.initAcc(pc, ldc)
	kLoop(g.prefix, kk, a, pb, t.nr()*4, func(u int) { g.step(a, pb, u, bregs, bcast) })

	g.store(pc, ldc)
	VZEROUPPER()
	RET()
	return name
}

func aLayout(mode, mr int) string {
	return [...]string{
		fmt.Sprintf("packed A (a[p*%d+i])", mr),
		"A transposed, in place (a[p*lda+i])",
		"A as stored, in place (a[i*lda+p])",
	}[mode]
}

// virtualRegisters allocates the accumulators for avo to assign.
func (g *kernel) virtualRegisters() {
	g.acc = make([][]reg.Register, g.t.mr)
	for i := range g.acc {
		for range g.t.parts {
			if g.t.isa == avx512 {
				g.acc[i] = append(g.acc[i], ZMM())
			} else {
				g.acc[i] = append(g.acc[i], YMM())
			}
		}
	}
}

// mixedRegisters assigns the registers of a mixed tile by hand. Its YMM FMAs
// are VEX-encoded, so AVX512VL is not needed, but their registers must then be
// among the first sixteen:
//
//	Y0..Y(mr-1)    YMM accumulators, one per row
//	Y12            B, the last 8 columns
//	Z13            A broadcast (its low half Y13 feeds the YMM FMAs)
//	Z14, Z15       B, the ZMM columns
//	Z16..          ZMM accumulators, nz per row
//
// It returns the B registers, one per part, and the broadcast register.
func (g *kernel) mixedRegisters() ([]reg.Register, func(int) reg.Register) {
	nz := len(g.t.parts) - 1
	if g.t.mr > 12 || g.t.mr*nz > 16 || nz > 2 {
		panic("too many accumulators for the register plan")
	}
	yacc := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7, reg.Y8, reg.Y9, reg.Y10, reg.Y11}
	zacc := []reg.VecPhysical{reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
		reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31}
	g.acc = make([][]reg.Register, g.t.mr)
	for i := range g.acc {
		for h := range nz {
			g.acc[i] = append(g.acc[i], zacc[i*nz+h])
		}
		g.acc[i] = append(g.acc[i], yacc[i].AsZ())
	}
	bregs := []reg.Register{reg.Z14, reg.Z15}[:nz]
	bregs = append(bregs, reg.Y12)
	return bregs, func(int) reg.Register { return reg.Z13 }
}

// step emits k step u of the loop: the B vectors, then per row a broadcast of
// A and one FMA per vector.
func (g *kernel) step(a aSource, pb reg.Register, u int, bregs []reg.Register, bcast func(int) reg.Register) {
	t := g.t
	bv := make([]reg.Register, len(t.parts))
	off := 0
	for h, w := range t.parts {
		switch {
		case bregs != nil:
			bv[h] = bregs[h]
		case t.isa == avx512:
			bv[h] = ZMM()
		default:
			bv[h] = YMM()
		}
		VMOVUPS(Mem{Base: pb, Disp: (u*t.nr() + off) * 4}, bv[h])
		off += w
	}
	for i := range t.mr {
		var bc reg.Register
		switch {
		case bcast != nil:
			bc = bcast(i)
		case t.isa == avx512:
			bc = ZMM()
		default:
			bc = YMM()
		}
		VBROADCASTSS(a.at(u, i), bc)
		for h, w := range t.parts {
			acc, src := g.acc[i][h], bc
			if t.mixed() && w == 8 {
				acc, src = acc.(reg.Vec).AsY(), src.(reg.Vec).AsY()
			}
			VFMADD231PS(bv[h], src, acc)
		}
	}
}

// opmasks builds one opmask per part from cols: part h, at column offset o,
// keeps its first clamp(cols−o, 0, width) lanes.
func (g *kernel) opmasks() []reg.Register {
	cols := Load(Param("cols"), GP64())
	masks := make([]reg.Register, len(g.t.parts))
	off := 0
	for h, w := range g.t.parts {
		n, zero, wide := GP64(), GP64(), GP64()
		MOVQ(cols, n)
		if off > 0 {
			SUBQ(U32(off), n)
		}
		XORQ(zero, zero)
		CMPQ(n, zero)
		CMOVQLT(zero, n)
		MOVQ(U32(w), wide)
		CMPQ(n, wide)
		CMOVQGT(wide, n)
		MOVQ(n, reg.RCX)
		bits := GP32()
		MOVL(U32(1), bits)
		SHLL(reg.CL, bits)
		DECL(bits)
		masks[h] = K()
		KMOVW(bits, masks[h])
		off += w
	}
	return masks
}

// avx2Masks returns one VMASKMOVPS mask per part, all ones in the lanes of
// columns below cols.
func (g *kernel) avx2Masks() []reg.VecVirtual {
	n := YMM()
	VPBROADCASTD(avx.ParamAddr("cols"), n)
	masks := make([]reg.VecVirtual, len(g.t.parts))
	for h := range masks {
		masks[h] = YMM()
		// lane < cols ⇔ cols > lane
		VPCMPGTD(g.laneIndex.Offset(32*h), n, masks[h])
	}
	return masks
}

// rowGuard emits, before row i > 0, the exit to label once rows are done
// and the step of the row pointers to row i.
func rowGuard(i int, rows reg.Register, label string, ld reg.Register, ptrs ...reg.Register) {
	if i == 0 {
		return
	}
	CMPQ(rows, U8(i))
	JLE(LabelRef(label))
	for _, p := range ptrs {
		ADDQ(ld, p)
	}
}

// initAcc sets the accumulators to 0, or to beta·C on the rows×cols corner
// (0 beyond it).
func (g *kernel) initAcc(pc, ldc reg.Register) {
	t := g.t
	for i := range g.acc {
		for _, r := range g.acc[i] {
			if t.isa == avx512 {
				VPXORD(r, r, r) // VXORPS on ZMM would need AVX512DQ
			} else {
				VXORPS(r, r, r)
			}
		}
	}
	loop := g.prefix + "_loop"
	betaIsZero(loop)
	loaded := g.prefix + "_loaded"
	rows := Load(Param("rows"), GP64())
	p := GP64()
	MOVQ(pc, p)
	if t.isa == avx512 {
		for i := range t.mr {
			rowGuard(i, rows, loaded, ldc, p)
			off := 0
			for h, w := range t.parts {
				VMOVUPS_Z(Mem{Base: p, Disp: 4 * off}, g.masks[h], g.acc[i][h])
				off += w
			}
		}
	} else {
		masks := g.avx2Masks()
		for i := range t.mr {
			rowGuard(i, rows, loaded, ldc, p)
			for h := range t.parts {
				VMASKMOVPS(Mem{Base: p, Disp: 32 * h}, masks[h], g.acc[i][h])
			}
		}
	}
	Label(loaded)
	bits := GP32()
	MOVL(avx.ParamAddr("beta"), bits)
	CMPL(bits, U32(avx.One)) // beta == 1: C as it is
	JE(LabelRef(loop))
	if t.isa == avx512 {
		for i := range g.acc {
			for _, r := range g.acc[i] {
				VMULPS_BCST(avx.ParamAddr("beta"), r, r)
			}
		}
	} else {
		beta := YMM()
		VBROADCASTSS(avx.ParamAddr("beta"), beta)
		for i := range g.acc {
			for _, r := range g.acc[i] {
				VMULPS(beta, r, r)
			}
		}
	}
	Label(loop)
}

// store writes the rows×cols corner of the accumulators to C.
func (g *kernel) store(pc, ldc reg.Register) {
	t := g.t
	done := g.prefix + "_done"
	rows := Load(Param("rows"), GP64())
	if t.isa == avx512 {
		for i := range t.mr {
			rowGuard(i, rows, done, ldc, pc)
			off := 0
			for h, w := range t.parts {
				VMOVUPS(g.acc[i][h], g.masks[h], Mem{Base: pc, Disp: 4 * off})
				off += w
			}
		}
		Label(done)
		return
	}
	// VMASKMOVPS stores are slow on some cores: full tiles store plainly.
	masked := g.prefix + "_masked"
	CMPQ(avx.ParamAddr("cols"), U8(t.nr()))
	JNE(LabelRef(masked))
	p := GP64()
	MOVQ(pc, p)
	for i := range t.mr {
		rowGuard(i, rows, done, ldc, p)
		for h := range t.parts {
			VMOVUPS(g.acc[i][h], Mem{Base: p, Disp: 32 * h})
		}
	}
	JMP(LabelRef(done))
	Label(masked)
	masks := g.avx2Masks()
	for i := range t.mr {
		rowGuard(i, rows, done, ldc, pc)
		for h := range t.parts {
			VMASKMOVPS(g.acc[i][h], masks[h], Mem{Base: pc, Disp: 32 * h})
		}
	}
	Label(done)
}

// aSource addresses A[i] at k step u of a pass of the k loop and moves A on
// by whole k steps.
type aSource struct {
	mode, mr  int
	pa        reg.Register   // aPacked, aTrans: the current k step
	bases     []reg.Register // aRows: rows 0, 4, 8, … at the current k step
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

// laneIndexData is the int32 sequence 0..31, compared against cols to build
// the AVX2 store masks of partial tiles.
func laneIndexData() Mem {
	var index [32]uint32
	for i := range index {
		index[i] = uint32(i)
	}
	return avx.Table32("lane_index", index[:]...)
}

// betaIsZero jumps to label when beta is +0 or -0, comparing bits so that a
// NaN beta is not taken for zero.
func betaIsZero(label string) {
	bits := GP32()
	MOVL(avx.ParamAddr("beta"), bits)
	ANDL(U32(avx.AbsMask), bits)
	JZ(LabelRef(label))
}
