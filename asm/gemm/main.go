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
	kernelAVX2(laneIndex)
	kernelAVX512()
	Generate()
}

const signature = "func(k int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32)"

// unroll is how many k steps one pass of the main loop does; the pointer
// updates and the loop branch are paid once per pass.
const unroll = 4

// laneIndexData is the int32 sequence 0..15, compared against cols to build
// the AVX2 store masks of partial tiles.
func laneIndexData() Mem {
	m := GLOBL("gemmLaneIndex", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
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
func kLoop(prefix string, kk, pa, pb reg.Register, aStep, bStep int, step func(u int)) {
	Label(prefix + "_k4")
	CMPQ(kk, U8(unroll))
	JL(LabelRef(prefix + "_k1"))
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(unroll*aStep), pa)
	ADDQ(U32(unroll*bStep), pb)
	SUBQ(U8(unroll), kk)
	JMP(LabelRef(prefix + "_k4"))

	Label(prefix + "_k1")
	TESTQ(kk, kk)
	JZ(LabelRef(prefix + "_kdone"))
	step(0)
	ADDQ(U32(aStep), pa)
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

func kernelAVX2(laneIndex Mem) {
	const mr, nr = 6, 16
	TEXT("sgemmKernel6x16AVX2", NOSPLIT, signature)
	Doc(fmt.Sprintf("sgemmKernel6x16AVX2 sets C = alpha·A·B + beta·C on the rows×cols (≤ %d×%d) corner of a tile", mr, nr),
		"of C with leading dimension ldc, from k steps of packed A (a[p*6+i]) and packed B",
		"(b[p*16+j]). C is not read when beta is ±0.")
	tile := AllocLocal(mr * nr * 4)

	kk := Load(Param("k"), GP64())
	pa := Load(Param("a").Base(), GP64())
	pb := Load(Param("b").Base(), GP64())
	pc := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	prefetchC(pc, ldc, mr, 1)

	var acc [mr][2]reg.VecVirtual
	for i := range acc {
		for h := range acc[i] {
			acc[i][h] = YMM()
			VXORPS(acc[i][h], acc[i][h], acc[i][h])
		}
	}
	kLoop("avx2", kk, pa, pb, mr*4, nr*4, func(u int) {
		b0, b1 := YMM(), YMM()
		VMOVUPS(Mem{Base: pb, Disp: u * nr * 4}, b0)
		VMOVUPS(Mem{Base: pb, Disp: u*nr*4 + 32}, b1)
		for i := 0; i < mr; i++ {
			t := YMM()
			VBROADCASTSS(Mem{Base: pa, Disp: u*mr*4 + 4*i}, t)
			VFMADD231PS(b0, t, acc[i][0])
			VFMADD231PS(b1, t, acc[i][1])
		}
	})

	// Sixteen YMM registers cannot hold the accumulators, alpha, beta and
	// two store masks at once: park the tile on the stack and write it back
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

	row := func(label string, masked, readC bool, m0, m1 reg.VecVirtual) {
		Label(label)
		for h := 0; h < 2; h++ {
			t := YMM()
			VMULPS(Mem{Base: tp, Disp: 32 * h}, alpha, t)
			dst := Mem{Base: pc, Disp: 32 * h}
			mask := m0
			if h == 1 {
				mask = m1
			}
			if readC {
				old := YMM()
				if masked {
					VMASKMOVPS(dst, mask, old)
				} else {
					VMOVUPS(dst, old)
				}
				VFMADD231PS(old, beta, t)
			}
			if masked {
				VMASKMOVPS(t, mask, dst)
			} else {
				VMOVUPS(t, dst)
			}
		}
		ADDQ(U8(nr*4), tp)
		ADDQ(ldc, pc)
		DECQ(rows)
		JNZ(LabelRef(label))
		JMP(LabelRef("avx2_done"))
	}

	CMPQ(cols, U8(nr))
	JNE(LabelRef("avx2_masked"))
	betaIsZero("avx2_full_nobeta")
	row("avx2_full_beta", false, true, nil, nil)
	row("avx2_full_nobeta", false, false, nil, nil)

	Label("avx2_masked")
	m0, m1 := YMM(), YMM()
	VMOVQ(cols, m0.AsX())
	VPBROADCASTD(m0.AsX(), m1)
	// lane < cols ⇔ cols > lane: all-ones lanes are stored, zero lanes are not.
	VPCMPGTD(laneIndex, m1, m0)
	VPCMPGTD(laneIndex.Offset(32), m1, m1)
	betaIsZero("avx2_masked_nobeta")
	row("avx2_masked_beta", true, true, m0, m1)
	row("avx2_masked_nobeta", true, false, m0, m1)

	Label("avx2_done")
	VZEROUPPER()
	RET()
}

func kernelAVX512() {
	const mr, nr = 12, 32
	TEXT("sgemmKernel12x32AVX512", NOSPLIT, signature)
	Doc(fmt.Sprintf("sgemmKernel12x32AVX512 sets C = alpha·A·B + beta·C on the rows×cols (≤ %d×%d) corner of a tile", mr, nr),
		"of C with leading dimension ldc, from k steps of packed A (a[p*12+i]) and packed B",
		"(b[p*32+j]). C is not read when beta is ±0.")

	kk := Load(Param("k"), GP64())
	pa := Load(Param("a").Base(), GP64())
	pb := Load(Param("b").Base(), GP64())
	pc := Load(Param("c").Base(), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	prefetchC(pc, ldc, mr, 2)

	var acc [mr][2]reg.VecVirtual
	for i := range acc {
		for h := range acc[i] {
			acc[i][h] = ZMM()
			VXORPS(acc[i][h], acc[i][h], acc[i][h])
		}
	}
	kLoop("avx512", kk, pa, pb, mr*4, nr*4, func(u int) {
		b0, b1 := ZMM(), ZMM()
		VMOVUPS(Mem{Base: pb, Disp: u * nr * 4}, b0)
		VMOVUPS(Mem{Base: pb, Disp: u*nr*4 + 64}, b1)
		for i := 0; i < mr; i++ {
			t := ZMM()
			VBROADCASTSS(Mem{Base: pa, Disp: u*mr*4 + 4*i}, t)
			VFMADD231PS(b0, t, acc[i][0])
			VFMADD231PS(b1, t, acc[i][1])
		}
	})

	Comment("Write back rows×cols through the lane masks k0 (columns 0-15) and k1 (16-31).")
	cols := Load(Param("cols"), reg.RCX)
	bits := GP64()
	MOVQ(U32(1), bits)
	SHLQ(reg.CL, bits)
	DECQ(bits)
	k0, k1 := K(), K()
	KMOVW(bits.As32(), k0)
	SHRQ(U8(16), bits)
	KMOVW(bits.As32(), k1)
	_ = cols
	rows := Load(Param("rows"), GP64())
	alpha, beta := ZMM(), ZMM()
	VBROADCASTSS(paramAddr("alpha"), alpha)
	VBROADCASTSS(paramAddr("beta"), beta)

	tile := func(prefix string, readC bool) {
		for i := 0; i < mr; i++ {
			if i > 0 {
				CMPQ(rows, U8(i))
				JLE(LabelRef("avx512_done"))
				ADDQ(ldc, pc)
			}
			for h, k := range []reg.Register{k0, k1} {
				t := acc[i][h]
				VMULPS(alpha, t, t)
				dst := Mem{Base: pc, Disp: 64 * h}
				if readC {
					old := ZMM()
					VMOVUPS_Z(dst, k, old)
					VFMADD231PS(old, beta, t)
				}
				VMOVUPS(t, k, dst)
			}
		}
		JMP(LabelRef("avx512_done"))
	}
	betaIsZero("avx512_nobeta")
	tile("avx512_beta", true)
	Label("avx512_nobeta")
	tile("avx512_nobeta", false)

	Label("avx512_done")
	VZEROUPPER()
	RET()
}
