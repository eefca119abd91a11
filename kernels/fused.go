package kernels

import (
	"fmt"
	"math"
)

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

// AdamStep applies one Adam update to param, given its gradient grad, and
// updates the moment estimates m and v, with the semantics of
// torch.optim.Adam (no weight decay, no AMSGrad): for step t ≥ 1 (the 1-based
// count of updates including this one),
//
//	m = β1·m + (1−β1)·g
//	v = β2·v + (1−β2)·g²
//	p = p − (lr/(1−β1^t))·m / (√v/√(1−β2^t) + eps)
//
// The bias corrections and step size are computed in float64, as PyTorch
// does in Python, and rounded to float32; the update itself is float32 in
// PyTorch's operation order without fused multiply-adds, so every
// implementation gives the same bits. It panics unless the four lengths
// agree and step ≥ 1. No slice may alias another.
func AdamStep(param, grad, m, v []float32, lr, beta1, beta2, eps float32, step int) {
	checkSameLen("AdamStep", []string{"param", "grad", "m", "v"}, param, grad, m, v)
	if step < 1 {
		panic(fmt.Sprintf("kernels: AdamStep: step=%d < 1", step))
	}
	kernels().adamStep(param, grad, m, v, newAdamHyper(lr, beta1, beta2, eps, step))
}

// adamHyper holds the float32 scalars of one Adam step.
type adamHyper struct {
	beta1, omb1 float32 // β1 and 1−β1
	beta2, omb2 float32 // β2 and 1−β2
	negStep     float32 // −lr/(1−β1^t)
	sqrtBias2   float32 // √(1−β2^t)
	eps         float32
}

func newAdamHyper(lr, beta1, beta2, eps float32, step int) adamHyper {
	b1, b2 := float64(beta1), float64(beta2)
	return adamHyper{
		beta1: beta1, omb1: float32(1 - b1),
		beta2: beta2, omb2: float32(1 - b2),
		negStep:   float32(-float64(lr) / (1 - powInt(b1, step))),
		sqrtBias2: float32(math.Sqrt(1 - powInt(b2, step))),
		eps:       eps,
	}
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
