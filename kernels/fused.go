package kernels

import "fmt"

// ReparamKL sets z = mu + eps·exp(logvar/2) elementwise and returns the KL
// divergence of N(mu, exp(logvar)) from N(0, 1), summed over all elements:
// −½·Σ(1 + logvar − mu² − exp(logvar)). It panics unless the lengths agree.
func ReparamKL(z, mu, logvar, eps []float32) float64 {
	checkSameLen("ReparamKL", []string{"z", "mu", "logvar", "eps"}, z, mu, logvar, eps)
	return kernels().reparamKL(z, mu, logvar, eps)
}

// ReparamKLBackward writes the gradients of f(z) + beta·KL with respect to mu
// and logvar, given dz = ∂f/∂z: dmu = dz + beta·mu and
// dlogvar = ½·dz·eps·exp(logvar/2) + ½·beta·(exp(logvar) − 1).
// It panics unless the lengths agree.
func ReparamKLBackward(dmu, dlogvar, dz, mu, logvar, eps []float32, beta float32) {
	checkSameLen("ReparamKLBackward", []string{"dmu", "dlogvar", "dz", "mu", "logvar", "eps"}, dmu, dlogvar, dz, mu, logvar, eps)
	kernels().reparamKLBackward(dmu, dlogvar, dz, mu, logvar, eps, beta)
}

// BCEWithLogits returns Σ softplus(l) − t·l, the binary cross-entropy of
// sigmoid(logits) against target, computed stably for every finite logit, and
// sets dlogits = scale·(sigmoid(l) − t). It panics unless the lengths agree.
func BCEWithLogits(dlogits, logits, target []float32, scale float32) float64 {
	checkSameLen("BCEWithLogits", []string{"dlogits", "logits", "target"}, dlogits, logits, target)
	return kernels().bceWithLogits(dlogits, logits, target, scale)
}

// SquaredError returns Σ (o − t)²/2 and sets dout = scale·(o − t). It panics
// unless the lengths agree.
func SquaredError(dout, out, target []float32, scale float32) float64 {
	checkSameLen("SquaredError", []string{"dout", "out", "target"}, dout, out, target)
	return kernels().squaredError(dout, out, target, scale)
}

// AdamStep applies one Adam update with PyTorch's semantics to param, given
// its gradient and the moment estimates m and v, which it updates. step is the
// 1-based count of updates including this one.
func AdamStep(param, grad, m, v []float32, lr, beta1, beta2, eps float32, step int) {
	checkSameLen("AdamStep", []string{"param", "grad", "m", "v"}, param, grad, m, v)
	if step < 1 {
		panic(fmt.Sprintf("kernels: AdamStep: step=%d < 1", step))
	}
	bias1 := 1 - pow(float64(beta1), step)
	bias2 := 1 - pow(float64(beta2), step)
	stepSize := float32(float64(lr) / bias1)
	invSqrtBias2 := float32(1 / sqrt(bias2))
	kernels().adamStep(param, grad, m, v, beta1, beta2, stepSize, eps, invSqrtBias2)
}

// AddBias adds bias to every row of y, a matrix of len(bias) columns. It
// panics unless len(y) is a multiple of len(bias).
func AddBias(y, bias []float32) {
	checkRows("AddBias", "y", "bias", y, bias)
	kernels().addBias(y, bias)
}

// SumRows sets dst to the sum of the rows of src, a matrix of len(dst)
// columns (the gradient of a bias). It panics unless len(src) is a multiple
// of len(dst).
func SumRows(dst, src []float32) {
	checkRows("SumRows", "src", "dst", src, dst)
	kernels().sumRows(dst, src)
}

func checkRows(op, matName, rowName string, mat, row []float32) {
	if (len(row) == 0 && len(mat) != 0) || (len(row) != 0 && len(mat)%len(row) != 0) {
		panic(fmt.Sprintf("kernels: %s: len(%s)=%d is not a multiple of len(%s)=%d", op, matName, len(mat), rowName, len(row)))
	}
}
