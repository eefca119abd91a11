package kernels

import (
	"fmt"
	"math"

	"github.com/fastvae/fastvae/internal/detmath"
)

// Accuracy of the fused kernels. Every returned sum is accumulated in
// float64: the generic code adds float64 terms; the assembly widens each
// float32 term (or, for SquaredError, the float32 operands, whose difference
// and square are then exact or rounded once in float64) to float64 lanes and
// adds them into float64 accumulators. Summation order is fixed per
// implementation, so results are deterministic. All terms are non-negative,
// so no sum suffers cancellation: each term is within 5·2^-24 (3e-7) of its
// exact value, and the float64 additions add at most n·2^-53, so every sum is
// within a relative 1e-6 of the exact one for any length up to 1e9 (tested
// per term, and at 1e7 elements), except that terms below float32's normal
// range (2^-126) may be lost or rounded to the subnormal grid: allow 2^-126
// per such element in addition. A sum of more than 4096 terms is the sum, in
// order, of the sums of consecutive chunks whose length depends on the
// number of terms alone; the chunks are shared between up to [Threads]
// goroutines, as are the elements of every kernel here, and results do not
// depend on how many.
//
// Outputs are stated as |error| ≤ a·ulp(exact) + b·2^-24·M, where M is the
// sum of the magnitudes of the parts that make up the exact value, the
// natural bound where those parts may cancel. The bounds are asserted by the
// tests for every implementation. The generic code computes each element in
// float64 and is almost always correctly rounded; the avx2 code computes in
// float32 with FMA; the avx512 set has its own code for ReparamKL,
// ReparamKLBackward and BCEWithLogits (with VSCALEFPS) and runs the avx2
// code of the others.

// ReparamKL sets z = mu + eps·exp(logvar/2) elementwise and returns the KL
// divergence of N(mu, exp(logvar)) from N(0, 1), summed over all elements:
// −½·Σ(1 + logvar − mu² − exp(logvar)) = ½·Σ(mu² + e^logvar − 1 − logvar),
// accumulated in float64.
//
// z is within 0.5 ulp + 2·2^-24·|eps·exp(logvar/2)|. The sum is within the
// bound above, also for logvar near 0, where e^logvar − 1 − logvar is computed
// without cancellation. Where exp(logvar/2) overflows float32 (logvar > 177.4)
// z is ±Inf (NaN where eps = 0) and the sum +Inf; logvar = −Inf gives
// z = mu and a sum of +Inf; NaN in mu or logvar makes the sum NaN.
//
// z may be the same slice as mu, logvar or eps (exactly, not a partial
// overlap). It panics unless the lengths agree.
func ReparamKL(z, mu, logvar, eps []float32) float64 {
	checkSameLen("ReparamKL", []string{"z", "mu", "logvar", "eps"}, z, mu, logvar, eps)
	if n := len(z); n > sumChunkMin {
		return runElem(opReparamKL, n, elemParts(opReparamKL, n), 0, adamHyper{}, z, mu, logvar, eps)
	}
	return kernels().reparamKL(z, mu, logvar, eps)
}

// ReparamKLBackward writes the gradients of f(z) + beta·KL with respect to mu
// and logvar, given dz = ∂f/∂z: dmu = dz + beta·mu and
// dlogvar = ½·dz·eps·exp(logvar/2) + ½·beta·(exp(logvar) − 1).
//
// dmu is within 0.5 ulp + 2^-24·(|dz| + |beta·mu|); dlogvar within
// 0.5 ulp + 4·2^-24·(|½·dz·eps·exp(logvar/2)| + ½·|beta|·(exp(logvar) + 1)),
// with exp(logvar) − 1 computed without cancellation near 0.
//
// Each output may be the same slice as any one input (dmu and dlogvar
// distinct). It panics unless the lengths agree.
func ReparamKLBackward(dmu, dlogvar, dz, mu, logvar, eps []float32, beta float32) {
	checkSameLen("ReparamKLBackward", []string{"dmu", "dlogvar", "dz", "mu", "logvar", "eps"}, dmu, dlogvar, dz, mu, logvar, eps)
	if p := elemParts(opReparamKLBackward, len(dmu)); p > 1 {
		runElem(opReparamKLBackward, len(dmu), p, beta, adamHyper{}, dmu, dlogvar, dz, mu, logvar, eps)
		return
	}
	kernels().reparamKLBackward(dmu, dlogvar, dz, mu, logvar, eps, beta)
}

// BCEWithLogits returns Σ softplus(l) − t·l, the binary cross-entropy of
// sigmoid(logits) against target, accumulated in float64, and sets
// dlogits = scale·(sigmoid(l) − t). Targets may be any value in [0, 1].
//
// It is stable for every finite logit up to ±MaxFloat32: with c = 1 − t for
// l ≥ +0 and c = −t below, each term is l·c + ln(1 + e^−|l|), two
// non-negative parts that never overflow, and ln(1+x) keeps full relative
// accuracy for tiny x (confident, correct predictions). dlogits =
// scale·(c ∓ sigmoid(−|l|)) is within 0.5 ulp + 4·2^-24·|scale|·(|c| +
// sigmoid(−|l|)), and within 2·|scale| subnormal steps where sigmoid(−|l|) is
// subnormal. NaN in either input gives NaN; an infinite logit whose target
// makes c = 0 gives NaN (0·∞).
//
// dlogits may be the same slice as logits or target. It panics unless the
// lengths agree.
func BCEWithLogits(dlogits, logits, target []float32, scale float32) float64 {
	checkSameLen("BCEWithLogits", []string{"dlogits", "logits", "target"}, dlogits, logits, target)
	if n := len(logits); n > sumChunkMin {
		return runElem(opBCEWithLogits, n, elemParts(opBCEWithLogits, n), scale, adamHyper{}, dlogits, logits, target)
	}
	return kernels().bceWithLogits(dlogits, logits, target, scale)
}

// SquaredError returns Σ (o − t)²/2, accumulated in float64, and sets
// dout = scale·(o − t). The sum's terms are exact up to one float64 rounding;
// dout is within 2 ulp (o − t is rounded to float32 before scaling in the
// assembly, and overflows to ±Inf there when |o − t| > MaxFloat32).
//
// dout may be the same slice as out or target. It panics unless the lengths
// agree.
func SquaredError(dout, out, target []float32, scale float32) float64 {
	checkSameLen("SquaredError", []string{"dout", "out", "target"}, dout, out, target)
	if n := len(out); n > sumChunkMin {
		return runElem(opSquaredError, n, elemParts(opSquaredError, n), scale, adamHyper{}, dout, out, target)
	}
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
// The bias corrections are computed in float64, as PyTorch does in Python.
// The update itself is float32 without fused multiply-adds, and the
// denominator is scaled by √(1−β2^t) to save a division per element:
// p += (−lr·√(1−β2^t)/(1−β1^t))·m / (√v + eps·√(1−β2^t)), the same quotient
// as PyTorch's, so results differ from its float32 ones only by rounding. All
// implementations give the same bits. It panics unless the four lengths agree
// and step ≥ 1. No slice may alias another.
func AdamStep(param, grad, m, v []float32, lr, beta1, beta2, eps float32, step int) {
	checkSameLen("AdamStep", []string{"param", "grad", "m", "v"}, param, grad, m, v)
	if step < 1 {
		panic(fmt.Sprintf("kernels: AdamStep: step=%d < 1", step))
	}
	h := newAdamHyper(lr, beta1, beta2, eps, step)
	if p := elemParts(opAdamStep, len(param)); p > 1 {
		runElem(opAdamStep, len(param), p, 0, h, param, grad, m, v)
		return
	}
	kernels().adamStep(param, grad, m, v, h)
}

// adamHyper holds the float32 scalars of one Adam step.
type adamHyper struct {
	beta1, omb1 float32 // β1 and 1−β1
	beta2, omb2 float32 // β2 and 1−β2
	negStep     float32 // −lr·√(1−β2^t)/(1−β1^t)
	epsS        float32 // eps·√(1−β2^t)
}

func newAdamHyper(lr, beta1, beta2, eps float32, step int) adamHyper {
	b1, b2 := float64(beta1), float64(beta2)
	sqrtBias2 := math.Sqrt(1 - detmath.PowInt(b2, step))
	return adamHyper{
		beta1: beta1, omb1: float32(1 - b1),
		beta2: beta2, omb2: float32(1 - b2),
		negStep: float32(-float64(lr) * sqrtBias2 / (1 - detmath.PowInt(b1, step))),
		epsS:    float32(float64(eps) * sqrtBias2),
	}
}

// AddBias adds bias to every row of y, a row-major matrix of len(bias)
// columns, in place: the forward pass of a layer's bias. Each element is one
// float32 addition, so every implementation gives the same bits. It panics
// unless len(y) is a multiple of len(bias) (len(bias) = 0 only with an empty y).
func AddBias(y, bias []float32) {
	checkRows("AddBias", "y", "bias", y, bias)
	if p := elemParts(opAddBias, len(y)); p > 1 {
		runElem(opAddBias, len(y)/len(bias), p, 0, adamHyper{}, y, bias)
		return
	}
	kernels().addBias(y, bias)
}

// SumRows sets dst to the sum of the rows of src, a row-major matrix of
// len(dst) columns: the gradient of a bias. Each column is summed in blocks of
// four rows, (r0 + r1) + (r2 + r3) in float32, the block sums (and the last
// rows) added in float64 from the first row down and the total rounded once,
// so dst is within 0.5 ulp + (2·2^-24 + rows·2^-53)·Σ|src| of the exact sum,
// and every implementation gives the same bits. dst must not overlap src. It
// panics unless len(src) is a multiple of len(dst) (len(dst) = 0 only with an
// empty src).
func SumRows(dst, src []float32) {
	checkRows("SumRows", "src", "dst", src, dst)
	rows := 0
	if len(dst) > 0 {
		rows = len(src) / len(dst)
	}
	if p := elemParts(opSumRows, len(src)); p > 1 {
		runElem(opSumRows, len(dst), p, 0, adamHyper{}, dst, src)
		return
	}
	kernels().sumRows(dst, src, len(dst), rows)
}

func checkRows(op, matName, rowName string, mat, row []float32) {
	if (len(row) == 0 && len(mat) != 0) || (len(row) != 0 && len(mat)%len(row) != 0) {
		panic(fmt.Sprintf("kernels: %s: len(%s)=%d is not a multiple of len(%s)=%d", op, matName, len(mat), rowName, len(row)))
	}
}
