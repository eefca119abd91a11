package kernels

import "math"

func pow(x float64, n int) float64 { return math.Pow(x, float64(n)) }
func sqrt(x float64) float64       { return math.Sqrt(x) }

// TODO(fused): these are plain transcriptions; the fused-kernel work makes
// them deterministic across architectures and fast.

func reparamKLGeneric(z, mu, logvar, eps []float32) float64 {
	var kl float64
	for i := range z {
		s := math.Exp(float64(logvar[i]) / 2)
		z[i] = float32(float64(mu[i]) + float64(eps[i])*s)
		m := float64(mu[i])
		kl += 1 + float64(logvar[i]) - m*m - s*s
	}
	return -kl / 2
}

func reparamKLBackwardGeneric(dmu, dlogvar, dz, mu, logvar, eps []float32, beta float32) {
	for i := range dmu {
		s := math.Exp(float64(logvar[i]) / 2)
		g, b := float64(dz[i]), float64(beta)
		dmu[i] = float32(g + b*float64(mu[i]))
		dlogvar[i] = float32(g*float64(eps[i])*s/2 + b*(s*s-1)/2)
	}
}

func bceWithLogitsGeneric(dlogits, logits, target []float32, scale float32) float64 {
	var sum float64
	for i, l32 := range logits {
		l, t := float64(l32), float64(target[i])
		softplus := max(l, 0) + math.Log1p(math.Exp(-math.Abs(l)))
		sum += softplus - t*l
		dlogits[i] = float32(float64(scale) * (1/(1+math.Exp(-l)) - t))
	}
	return sum
}

func squaredErrorGeneric(dout, out, target []float32, scale float32) float64 {
	var sum float64
	for i, o := range out {
		d := float64(o) - float64(target[i])
		sum += d * d / 2
		dout[i] = float32(float64(scale) * d)
	}
	return sum
}

func adamStepGeneric(param, grad, m, v []float32, beta1, beta2, stepSize, eps, invSqrtBias2 float32) {
	// The float32(...) conversions stop Go from fusing x*y+z into an FMA on
	// arm64 and GOAMD64=v3, which would change the bits from one build to
	// another.
	for i, g := range grad {
		m[i] = float32(beta1*m[i]) + float32((1-beta1)*g)
		v[i] = float32(beta2*v[i]) + float32((1-beta2)*g*g)
		denom := float32(float32(math.Sqrt(float64(v[i])))*invSqrtBias2) + eps
		param[i] -= stepSize * m[i] / denom
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

func sumRowsGeneric(dst, src []float32) {
	clear(dst)
	for r := 0; r < len(src); r += len(dst) {
		for j, s := range src[r : r+len(dst)] {
			dst[j] += s
		}
	}
}
