package kernels

import (
	"math"

	"github.com/fastvae/fastvae/internal/detmath"
)

// The generic fused kernels compute each element in float64 with the
// deterministic helpers of detmath.go (and exp64 of elementwise_generic.go)
// and round once to float32, so their
// outputs are within a hair of correctly rounded; sums accumulate in float64
// in index order. Products that Go could fuse into an FMA on some
// architectures are wrapped in an explicit conversion, which forbids fusion,
// so every architecture gets the same bits.

func reparamKLGeneric(z, mu, logvar, eps []float32) float64 {
	var kl float64
	for i, lv32 := range logvar {
		lv, m := float64(lv32), float64(mu[i])
		s := detmath.ExpFull(lv / 2)
		z[i] = float32(m + float64(float64(eps[i])*s))
		if math.IsInf(float64(float32(s)), 1) {
			// As in the vector code, whose exp(logvar/2) overflows here.
			kl = math.Inf(1)
		}
		kl += float64(m*m) + detmath.Expm1mx(lv, s*s)
	}
	return kl / 2
}

func reparamKLBackwardGeneric(dmu, dlogvar, dz, mu, logvar, eps []float32, beta float32) {
	b := float64(beta)
	for i, lv32 := range logvar {
		// Read every input before writing: an output may alias any input.
		lv, g, m, ep := float64(lv32), float64(dz[i]), float64(mu[i]), float64(eps[i])
		s := detmath.ExpFull(lv / 2)
		em1 := detmath.Expm1mx(lv, s*s) + lv // e^lv − 1 without cancellation near 0
		dmu[i] = float32(g + float64(b*m))
		dlogvar[i] = float32(float64(g*ep*s)/2 + float64(b*em1)/2)
	}
}

func bceWithLogitsGeneric(dlogits, logits, target []float32, scale float32) float64 {
	var sum float64
	sc := float64(scale)
	for i, l32 := range logits {
		l, t := float64(l32), float64(target[i])
		e := detmath.ExpFull(-math.Abs(l)) // in [0, 1]: never overflows
		q := e / (1 + e)                   // sigmoid(−|l|)
		// c = step(l) − t, taking the step from the sign bit so that −0
		// counts as negative. l·c = max(l, 0) − t·l ≥ 0 without the
		// cancellation of that difference, and sigmoid(l) − t is c − q for
		// l ≥ +0 and c + q below.
		c, d := -t, q
		if !math.Signbit(l) {
			c, d = 1-t, -q
		}
		sum += float64(l*c) + detmath.Log1pUnit(e)
		dlogits[i] = float32(sc * (c + d))
	}
	return sum
}

func squaredErrorGeneric(dout, out, target []float32, scale float32) float64 {
	var sum float64
	sc := float64(scale)
	for i, o := range out {
		d := float64(o) - float64(target[i]) // exact unless the exponents differ by > 29
		sum += float64(d * d)
		dout[i] = float32(sc * d)
	}
	return sum / 2
}

// adamStepGeneric performs the float32 operations of AdamStep in this
// order, without fusing, as the assembly does: m = β1·m + (1−β1)·g;
// v = β2·v + ((1−β2)·g)·g; p += (negStep·m)/(√v + epsS).
func adamStepGeneric(param, grad, m, v []float32, h adamHyper) {
	for i, g := range grad {
		mi := float32(h.beta1*m[i]) + float32(h.omb1*g)
		vi := float32(h.beta2*v[i]) + float32(float32(h.omb2*g)*g)
		denom := float32(math.Sqrt(float64(vi))) + h.epsS
		m[i], v[i] = mi, vi
		param[i] += float32(h.negStep*mi) / denom
	}
}

func addBiasGeneric(y, bias []float32) {
	for r := 0; r < len(y); r += len(bias) {
		row := y[r : r+len(bias)]
		for j, b := range bias {
			row[j] += b
		}
	}
}

// sumRowsBlock is how many columns sumRowsGeneric sums at once in a float64
// array on the stack, walking down the rows.
const sumRowsBlock = 64

// sumRowsGeneric adds each column's rows in blocks of four, pairwise in
// float32, (r0 + r1) + (r2 + r3), each block's sum in float64 in row order,
// and the rows past the last whole block one by one in float64; it rounds
// the total once. The assembly adds in exactly this order (the pairs halve
// its float64 conversions) and gets the same bits.
func sumRowsGeneric(dst, src []float32, ld, rows int) {
	cols := len(dst)
	var acc [sumRowsBlock]float64
	for j0 := 0; j0 < cols; j0 += sumRowsBlock {
		w := min(sumRowsBlock, cols-j0)
		a := acc[:w]
		clear(a)
		r := 0
		for ; r+4 <= rows; r += 4 {
			r0, r1 := src[r*ld+j0:][:w], src[(r+1)*ld+j0:][:w]
			r2, r3 := src[(r+2)*ld+j0:][:w], src[(r+3)*ld+j0:][:w]
			for k := range a {
				a[k] += float64((r0[k] + r1[k]) + (r2[k] + r3[k]))
			}
		}
		for ; r < rows; r++ {
			for k, x := range src[r*ld+j0:][:w] {
				a[k] += float64(x)
			}
		}
		for k, s := range a {
			dst[j0+k] = float32(s)
		}
	}
}
