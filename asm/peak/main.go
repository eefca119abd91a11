// Command peak generates the FMA peak probe into package bench: loops of
// register-only VFMADD231PS on YMM (AVX2+FMA) and on ZMM (AVX-512F)
// registers, with no loads or stores, so that their rate is the float32
// FLOP rate the core's FMA pipes can reach, the ceiling against which the
// benchmarks' GEMM and training figures are read.
package main

import (
	"fmt"

	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

const (
	// chains independent accumulators keep two FMA pipes busy through up to
	// 6 cycles of latency (2×5 = 10 would do for today's 4- and 5-cycle
	// FMAs); 12 and the source register fit in the 16 YMM registers.
	chains = 12
	// unroll rounds of the chains per loop iteration make the loop's own
	// decrement and branch negligible.
	unroll = 4
)

// A probe is one vector width.
type probe struct {
	name, isa string
	lanes     int                   // float32 per register
	vec       func() reg.VecVirtual // a new virtual register of the width
	zero      func(r reg.VecVirtual)
}

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")
	emit(probe{name: "fmaPeakAVX2", isa: "AVX2+FMA (YMM)", lanes: 8, vec: YMM,
		zero: func(r reg.VecVirtual) { VXORPS(r, r, r) }})
	// VPXORD, not VXORPS, which on ZMM needs AVX-512DQ.
	emit(probe{name: "fmaPeakAVX512", isa: "AVX-512F (ZMM)", lanes: 16, vec: ZMM,
		zero: func(r reg.VecVirtual) { VPXORD(r, r, r) }})
	avx.Generate()
}

// emit writes one probe: iters iterations of unroll rounds of acc[c] += x·x
// over the chains, then the sum of every lane of every accumulator, and
// the number of FMA lane operations done (each two FLOPs), so that the
// caller counts work from what the code did rather than from a table kept
// beside it. With x = 1 the sum equals fmas while both are below 2^24.
func emit(p probe) {
	perIter := chains * unroll * p.lanes
	TEXT(p.name, NOSPLIT, "func(iters int, x float32) (sum float32, fmas int)")
	avx.Doc(fmt.Sprintf("%s runs iters (≥ 1) iterations of %d rounds of %d independent chains of "+
		"%s FMAs, acc += x·x, on registers only. It returns the sum of all %d accumulator lanes and "+
		"the number of float32 FMAs done, iters·%d.", p.name, unroll, chains, p.isa, chains*p.lanes, perIter))
	n := Load(Param("iters"), GP64())
	fmas := GP64()
	IMUL3Q(U32(perIter), n, fmas)
	Store(fmas, Return("fmas"))
	x := p.vec()
	VBROADCASTSS(avx.ParamAddr("x"), x)
	acc := make([]reg.VecVirtual, chains)
	for i := range acc {
		acc[i] = p.vec()
		p.zero(acc[i])
	}

	Label(p.name + "_loop")
	for range unroll {
		for _, a := range acc {
			VFMADD231PS(x, x, a)
		}
	}
	DECQ(n)
	JNZ(LabelRef(p.name + "_loop"))

	// A tree of additions down to one register, then halves down to one lane.
	s := avx.Fold(acc, func(src, dst reg.VecVirtual) { VADDPS(src, dst, dst) })
	if s.Size() == 64 {
		hi := YMM()
		VEXTRACTF64X4(U8(1), s, hi)
		VADDPS(hi, s.AsY(), hi)
		s = hi
	}
	lo := XMM()
	VEXTRACTF128(U8(1), s, lo)
	VADDPS(lo, s.AsX(), lo)
	VHADDPS(lo, lo, lo)
	VHADDPS(lo, lo, lo)
	// Clear the upper halves before Store's SSE MOVSS, not after.
	VZEROUPPER()
	Store(lo, Return("sum"))
	RET()
}
