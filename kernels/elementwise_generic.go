package kernels

import (
	"math"

	"github.com/fastvae/fastvae/internal/detmath"
)

// The generic Exp and Sigmoid evaluate e^x in float64 with plain arithmetic
// (math.Exp has assembly versions on some architectures, so its bits are not
// portable), then round once to float32. Every product that Go could fuse
// into an FMA on some architecture is rounded by an explicit conversion, so
// the results are the same bits everywhere.

// widenBlock is how many inputs the generic Exp and Sigmoid convert to
// float64 before computing on them. On amd64 the conversion instruction
// merges into its destination register; inside the computing loop that
// register would carry a dependency from each element's result to the next
// element's start and serialise the loop (Sigmoid ran 6x slower).
const widenBlock = 128

// widen returns the block of src of at most widenBlock elements from lo,
// converted to float64 in buf, and the block of dst of the same elements.
func widen(buf *[widenBlock]float64, dst, src []float32, lo int) (d []float32, xs []float64) {
	xs = buf[:min(len(src)-lo, widenBlock)]
	for i := range xs {
		xs[i] = float64(src[lo+i])
	}
	return dst[lo : lo+len(xs)], xs
}

// expGeneric is within 0.5 + 2^-15 ULP of the correctly rounded e^x.
func expGeneric(dst, src []float32) {
	var buf [widenBlock]float64
	for lo := 0; lo < len(src); lo += widenBlock {
		d, xs := widen(&buf, dst, src, lo)
		for i, x := range xs {
			switch {
			case x > detmath.ExpOverflow: // and +Inf
				d[i] = float32(math.Inf(1))
			case x < detmath.ExpUnderflow: // and -Inf
				d[i] = 0
			case x == x:
				d[i] = float32(detmath.Scale(detmath.Reduce(x)))
			default: // NaN
				d[i] = float32(x)
			}
		}
	}
}

// sigmoidGeneric computes σ(x) = n/(1+e) with e = e^-|x| in float64, where
// n = 1 for x ≥ 0 and e for x < 0, so that e never overflows and σ of large
// negative x keeps its subnormal value. Within 0.5 + 2^-15 ULP.
func sigmoidGeneric(dst, src []float32) {
	var buf [widenBlock]float64
	for lo := 0; lo < len(src); lo += widenBlock {
		d, xs := widen(&buf, dst, src, lo)
		for i, x := range xs {
			a := math.Abs(x)
			e := 0.0
			if a <= -detmath.ExpUnderflow {
				e = detmath.Scale(detmath.Reduce(-a))
			}
			// n = x < 0 ? e : 1, selected with bit operations: the sign
			// of x is as unpredictable as the data.
			neg := -(math.Float64bits(x) >> 63)
			n := math.Float64frombits(math.Float64bits(1) ^ (math.Float64bits(1)^math.Float64bits(e))&neg)
			if x != x {
				n = x
			}
			d[i] = float32(n / (1 + e))
		}
	}
}

// reluGeneric lets NaN and -0 through unchanged, as the assembly's VMAXPS does.
func reluGeneric(dst, src []float32) {
	for i, x := range src {
		if x < 0 {
			x = 0
		}
		dst[i] = x
	}
}

func reluBackwardGeneric(dx, dy, y []float32) {
	for i, g := range dy {
		if y[i] > 0 {
			dx[i] = g
		} else {
			dx[i] = 0
		}
	}
}
