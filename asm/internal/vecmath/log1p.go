package vecmath

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/reg"
)

// ln(1+e) for e in [0, 1] is 2·atanh(s) = 2s + 2s·z·R(z) with s = e/(2+e)
// ≤ 1/3 and z = s² ≤ 1/9. R(z) = (atanh(s)/s − 1)/z is fitted by a cubic
// (Chebyshev interpolation, coefficients rounded to float32) with relative
// error 7 ULP, which reaches the result scaled by zR/(1+zR) ≤ 0.04: under
// 0.3 ULP. Unlike ln(RN(1+e)), it keeps full relative accuracy for tiny e,
// which is where the softplus of a confident logit lives.

// log1pR is R's coefficients, constant term first.
var log1pR = []uint32{0x3eaaaaa6, 0x3e4cd6b6, 0x3e10924d, 0x3e097acc}

// Log1pUnit returns, for the float32 lanes e in [0, 1] of each register of
// width w in es (which it leaves unchanged), new registers holding ln(1+e),
// within about 1 ULP and accurate relative to the result also where 1+e
// rounds to 1. NaN gives NaN. It costs one division and six FMA-unit
// operations per vector; the steps of the vectors are interleaved. Both
// widths take the same steps with the same constants, so give the same
// bits.
func Log1pUnit(w avx.Width, es []reg.VecVirtual) []reg.VecVirtual {
	n := len(es)
	s, z := make([]reg.VecVirtual, n), make([]reg.VecVirtual, n)
	for j, e := range es {
		s[j] = w.Reg()
		w.VADDPS(avx.F32(2), e, s[j])
		VDIVPS(s[j], e, s[j]) // s = e/(2+e)
	}
	for j := range es {
		z[j] = w.Reg()
		VMULPS(s[j], s[j], z[j])
	}
	p := avx.Horner(w, z, log1pR)
	for j := range es {
		VADDPS(s[j], s[j], s[j]) // 2s
		VMULPS(s[j], z[j], z[j]) // 2s·z
		VFMADD213PS(s[j], z[j], p[j])
	}
	return p // 2s + 2s·z·R(z)
}
