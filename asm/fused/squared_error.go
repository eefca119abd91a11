package main

import (
	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
)

// SquaredError: the Gaussian decoder's loss Σ(out−target)²/2 and its
// gradient scale·(out−target).

func squaredError() {
	TEXT("squaredErrorAVX2", NOSPLIT, "func(dout, out, target []float32, scale float32) float64")
	Pragma("noescape")
	avx.Doc("squaredErrorAVX2 returns Σ(out−target)²/2, each exact difference squared and added in " +
		"float64, and sets dout = scale·(out−target) rounded from float32 o−t. The lengths are equal.")
	p, n := avx.Slices("out", "dout", "target")
	out, dout, target := p[0], p[1], p[2]
	scale := avx.Broadcast(avx.YMM, "scale")
	const unroll = 4
	accs := zeroed(avx.YMM, 2*unroll) // a pair per vector of the main loop
	sacc := zeroedX()                 // the scalar tail's

	avx.Loop{Name: "se", N: n, Width: avx.YMM, Unroll: unroll, Tail: avx.Scalar}.Emit(func(s avx.Step) {
		if s.Scalar {
			o, t, d := XMM(), XMM(), XMM()
			VCVTSS2SD(s.At(out, 0), o, o)
			VCVTSS2SD(s.At(target, 0), t, t)
			VSUBSD(t, o, o)
			VFMADD231SD(o, o, sacc)
			VMOVSS(s.At(out, 0), d)
			VSUBSS(s.At(target, 0), d, d)
			VMULSS(scale.AsX(), d, d)
			VMOVSS(d, s.At(dout, 0))
			return
		}
		// The float64 half first (o − t is exact in float64 and its square
		// is added with one rounding), reading every element before any
		// store.
		for j := range s.Offs {
			for h := range 2 {
				o, t := YMM(), YMM()
				VCVTPS2PD(s.At(out, j).Offset(16*h), o)
				VCVTPS2PD(s.At(target, j).Offset(16*h), t)
				VSUBPD(t, o, o)
				VFMADD231PD(o, o, accs[2*j+h])
			}
		}
		ds := s.Load(out)
		for j, d := range ds {
			VSUBPS(s.At(target, j), d, d)
			VMULPS(scale, d, d)
		}
		s.Store(ds, dout)
	})
	returnHalf(reduceSum(accs, sacc))
}
