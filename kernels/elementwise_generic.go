package kernels

import "math"

// The generic Exp and Sigmoid evaluate e^x in float64 with plain arithmetic
// (math.Exp has assembly versions on some architectures, so its bits are not
// portable), then round once to float32. Every product that Go could fuse
// into an FMA on some architecture is rounded by an explicit conversion, so
// the results are the same bits everywhere.

const (
	// expOverflow is the largest float32 whose e^x is finite: 0x42b17217.
	expOverflow = 88.72283172607421875
	// expUnderflow lies below ln(2^-150) = -103.972...: e^x rounds to 0.
	expUnderflow = -104
)

// exp64 returns e^x within about 2^-39 relative error for
// expUnderflow ≤ x ≤ 89: x = k·ln2/32 + r with |r| ≤ ln2/64, and
// e^x = 2^(k>>5) · 2^((k&31)/32) · e^r with e^r from its degree-4 Taylor
// polynomial (truncation error r^5/120 < 2^-39). Its two halves,
// expReduce and expScale, are small enough for the compiler to inline into
// loops, where the kernels call them directly.
func exp64(x float64) float64 { return expScale(expReduce(x)) }

const (
	expMagic     = 0x1.8p52 // adding it rounds |y| < 2^51 to an integer
	expMagicBits = 0x4338000000000000
)

// expReduce returns r and the bits of expMagic + k.
func expReduce(x float64) (kb uint64, r float64) {
	kf := float64(x*(32/math.Ln2)) + expMagic
	kb = math.Float64bits(kf) // expMagicBits + k: k&31 and k>>5 are in its low bits
	kf -= expMagic
	return kb, x - float64(kf*(math.Ln2/32))
}

// expScale returns 2^(k>>5) · 2^((k&31)/32) · e^r.
func expScale(kb uint64, r float64) float64 {
	p := float64(float64(float64(float64(float64(r*(1.0/24))+1.0/6)*r)+0.5)*r) + 1
	p = float64(p*r) + 1
	scale := math.Float64frombits((kb>>5 - (expMagicBits>>5 - 1023)) << 52)
	return float64(expTab[kb&31]*p) * scale
}

// expTab[j] is the float64 nearest 2^(j/32).
var expTab = [32]float64{
	0x1p+00,               // 2^(0/32)
	0x1.059b0d3158574p+00, // 2^(1/32)
	0x1.0b5586cf9890fp+00, // 2^(2/32)
	0x1.11301d0125b51p+00, // 2^(3/32)
	0x1.172b83c7d517bp+00, // 2^(4/32)
	0x1.1d4873168b9aap+00, // 2^(5/32)
	0x1.2387a6e756238p+00, // 2^(6/32)
	0x1.29e9df51fdee1p+00, // 2^(7/32)
	0x1.306fe0a31b715p+00, // 2^(8/32)
	0x1.371a7373aa9cbp+00, // 2^(9/32)
	0x1.3dea64c123422p+00, // 2^(10/32)
	0x1.44e086061892dp+00, // 2^(11/32)
	0x1.4bfdad5362a27p+00, // 2^(12/32)
	0x1.5342b569d4f82p+00, // 2^(13/32)
	0x1.5ab07dd485429p+00, // 2^(14/32)
	0x1.6247eb03a5585p+00, // 2^(15/32)
	0x1.6a09e667f3bcdp+00, // 2^(16/32)
	0x1.71f75e8ec5f74p+00, // 2^(17/32)
	0x1.7a11473eb0187p+00, // 2^(18/32)
	0x1.82589994cce13p+00, // 2^(19/32)
	0x1.8ace5422aa0dbp+00, // 2^(20/32)
	0x1.93737b0cdc5e5p+00, // 2^(21/32)
	0x1.9c49182a3f09p+00,  // 2^(22/32)
	0x1.a5503b23e255dp+00, // 2^(23/32)
	0x1.ae89f995ad3adp+00, // 2^(24/32)
	0x1.b7f76f2fb5e47p+00, // 2^(25/32)
	0x1.c199bdd85529cp+00, // 2^(26/32)
	0x1.cb720dcef9069p+00, // 2^(27/32)
	0x1.d5818dcfba487p+00, // 2^(28/32)
	0x1.dfc97337b9b5fp+00, // 2^(29/32)
	0x1.ea4afa2a490dap+00, // 2^(30/32)
	0x1.f50765b6e454p+00,  // 2^(31/32)
}

// widenBlock is how many inputs the generic Exp and Sigmoid convert to
// float64 before computing on them. On amd64 the conversion instruction
// merges into its destination register; inside the computing loop that
// register would carry a dependency from each element's result to the next
// element's start and serialise the loop (Sigmoid ran 6x slower).
const widenBlock = 128

// widen converts src to float64 in buf, at most widenBlock elements, and
// returns them.
func widen(buf *[widenBlock]float64, src []float32) []float64 {
	b := buf[:min(len(src), widenBlock)]
	for i := range b {
		b[i] = float64(src[i])
	}
	return b
}

// expGeneric is within 0.5 + 2^-15 ULP of the correctly rounded e^x.
func expGeneric(dst, src []float32) {
	var buf [widenBlock]float64
	for len(src) > 0 {
		xs := widen(&buf, src)
		d := dst[:len(xs)]
		for i, x := range xs {
			switch {
			case x > expOverflow: // and +Inf
				d[i] = float32(math.Inf(1))
			case x < expUnderflow: // and -Inf
				d[i] = 0
			case x == x:
				d[i] = float32(expScale(expReduce(x)))
			default: // NaN
				d[i] = float32(x)
			}
		}
		src, dst = src[len(xs):], dst[len(xs):]
	}
}

// sigmoidGeneric computes σ(x) = n/(1+e) with e = e^-|x| in float64, where
// n = 1 for x ≥ 0 and e for x < 0, so that e never overflows and σ of large
// negative x keeps its subnormal value. Within 0.5 + 2^-15 ULP.
func sigmoidGeneric(dst, src []float32) {
	var buf [widenBlock]float64
	for len(src) > 0 {
		xs := widen(&buf, src)
		d := dst[:len(xs)]
		for i, x := range xs {
			a := math.Abs(x)
			e := 0.0
			if a <= -expUnderflow {
				e = expScale(expReduce(-a))
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
		src, dst = src[len(xs):], dst[len(xs):]
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
