// Command fused generates the assembly of the fused VAE kernels into package
// kernels, one file here per kernel: ReparamKL, ReparamKLBackward and
// BCEWithLogits, built on exp, for AVX2+FMA and AVX-512F (which measured
// 1.45–1.7× faster); SquaredError, AdamStep, AddBias and SumRows for AVX2.
// e^x, e^x − 1 and ln(1+x) come from the shared emitters of
// asm/internal/vecmath.
//
// Every kernel makes one pass over memory, an avx.Loop: an unrolled loop of
// several vectors, a one-vector loop, and for the last elements either a
// scalar loop or one masked vector (VMASKMOVPS, or an opmask), so nothing is
// read or written outside the slices. Within each element all loads come
// before the store, so an output may be the same slice as an input. Sums
// accumulate in float64 lanes: each float32 term (or, where exact, its
// float32 operands) is widened with VCVTPS2PD and added into float64
// accumulators, so a sum of n terms carries only the float32 error of each
// term plus float64 rounding, never float32 accumulation error.
package main

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")
	squaredError()
	adamStep()
	addBias()
	sumRows()
	reparamKL(avx.YMM)
	reparamKLBackward(avx.YMM)
	bceWithLogits(avx.YMM)
	reparamKL(avx.ZMM)
	reparamKLBackward(avx.ZMM)
	bceWithLogits(avx.ZMM)
	avx.Generate()
}

// The exp-based kernels interleave unrollExp YMM vectors (one exp is a
// dependency chain of some 50 cycles, and two independent chains keep the
// out-of-order scheduler fed; three need more than 16 YMM registers) or
// unroll512 ZMM vectors. AVX-512 pays even on cores that execute 512-bit
// operations in two 256-bit halves: VSCALEFPS replaces the seven-instruction
// two-step 2^k scaling (and handles overflow and subnormal results itself),
// constants come from 4-byte broadcasts, opmasks replace blends and masked
// moves, and 32 registers let four independent 16-lane vectors be in flight.
// Measured on Zen 4: exp 1.7× the AVX2 throughput per element. Those kernels
// use AVX512F instructions only.
const (
	unrollExp = 2
	unroll512 = 4
)

// kernel starts the function named base+suffix(w) with signature sig. The
// AVX2 one is documented by doc, the AVX-512 one as the same with
// AVX-512F.
func kernel(base string, w avx.Width, sig, doc string) {
	name := base + suffix(w)
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	if w == avx.YMM {
		avx.Doc(name + " " + doc)
	} else {
		avx.Doc(name + " is " + base + "AVX2 with AVX-512F.")
	}
}

// unrollFor returns the unroll of the exp-based kernels for width w.
func unrollFor(w avx.Width) int {
	if w == avx.ZMM {
		return unroll512
	}
	return unrollExp
}

// suffix names a kernel's instruction set.
func suffix(w avx.Width) string {
	if w == avx.ZMM {
		return "AVX512"
	}
	return "AVX2"
}

// each emits f for j = 0 … n−1: one step of all interleaved vectors.
func each(n int, f func(j int)) {
	for j := range n {
		f(j)
	}
}

// zeroed returns n new registers of width w set to zero.
func zeroed(w avx.Width, n int) []reg.VecVirtual {
	v := w.Regs(n)
	for _, r := range v {
		if w == avx.ZMM {
			VPXORQ(r, r, r)
		} else {
			VXORPD(r, r, r)
		}
	}
	return v
}

// zeroedX returns a new XMM set to zero.
func zeroedX() reg.VecVirtual {
	x := XMM()
	VXORPD(x, x, x)
	return x
}

// cvtAdd widens the float32 lanes of x (width w) to float64 and adds them to
// the accumulators lo (the low half's lanes) and hi; with square set it adds
// their squares instead (exact products, one rounding each).
func cvtAdd(w avx.Width, x, lo, hi reg.VecVirtual, square bool) {
	var xh reg.VecVirtual
	if w == avx.ZMM {
		xh = YMM()
		VEXTRACTF64X4(Imm(1), x, xh)
	} else {
		xh = XMM()
		VEXTRACTF128(Imm(1), x, xh)
	}
	a, b := w.Reg(), w.Reg()
	VCVTPS2PD(w.Half(x), a)
	VCVTPS2PD(xh, b)
	if square {
		VFMADD231PD(a, a, lo)
		VFMADD231PD(b, b, hi)
		return
	}
	VADDPD(a, lo, lo)
	VADDPD(b, hi, hi)
}

// reduceSum adds the YMM float64 accumulators pairwise in a fixed tree, then
// the four lanes of the result, then scalar (a float64 in the low lane of an
// XMM), and returns the XMM holding the total in its low lane.
func reduceSum(accs []reg.VecVirtual, scalar reg.VecVirtual) reg.VecVirtual {
	sum := avx.Fold(accs, func(src, dst reg.VecVirtual) { VADDPD(src, dst, dst) })
	hi := XMM()
	VEXTRACTF128(Imm(1), sum, hi)
	lo := sum.AsX()
	VADDPD(hi, lo, lo)
	VUNPCKHPD(lo, lo, hi)
	VADDSD(hi, lo, lo)
	VADDSD(scalar, lo, lo)
	return lo.(reg.VecVirtual)
}

// reducePair folds the float64 accumulators lo and hi of width w into the
// low lane of an XMM, in a fixed order.
func reducePair(w avx.Width, lo, hi reg.VecVirtual) reg.VecVirtual {
	if w == avx.YMM {
		return reduceSum([]reg.VecVirtual{lo, hi}, zeroedX())
	}
	VADDPD(hi, lo, lo)
	y := YMM()
	VEXTRACTF64X4(Imm(1), lo, y)
	acc := YMM()
	VADDPD(y, lo.AsY(), acc)
	return reduceSum([]reg.VecVirtual{acc}, zeroedX())
}

// returnHalf returns sum/2 (an exact scaling) as the float64 result, and
// ends the function.
func returnHalf(sum reg.VecVirtual) {
	half, bits := XMM(), GP64()
	MOVQ(U64(0x3fe0000000000000), bits) // float64 0.5
	MOVQ(bits, half)
	VMULSD(half, sum, sum)
	returnSum(sum)
}

// returnSum returns sum as the float64 result, and ends the function.
func returnSum(sum reg.VecVirtual) {
	Store(sum, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
