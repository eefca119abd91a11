package kernels

// Exp sets dst[i] = e^src[i]. The result is within 1 ULP of the correctly
// rounded value for every float32 input, subnormal results included (no flush
// to zero). Exp(+Inf) = +Inf, Exp(x) = +Inf for x above the overflow
// threshold 88.7228..., Exp(-Inf) = 0, and NaN gives NaN. dst may be src.
// It panics if len(dst) != len(src).
//
// The generic code computes in float64 and rounds once (0.5 ULP); the avx2
// and avx512 code computes in float32 with FMA (0.79 and 0.77 ULP at worst
// over all inputs, in the subnormal range; under 0.6 for normal results).
// Each element's result depends on its input alone.
func Exp(dst, src []float32) {
	checkSameLen("Exp", []string{"dst", "src"}, dst, src)
	if p := elemParts(opExp, len(dst)); p > 1 {
		runElem(opExp, len(dst), p, 0, adamHyper{}, dst, src)
		return
	}
	kernels().exp(dst, src)
}

// Sigmoid sets dst[i] = 1/(1+e^-src[i]), within 2 ULP of the correctly
// rounded value for every float32 input. Sigmoid(+Inf) = 1, Sigmoid(-Inf) = 0,
// NaN gives NaN; results in the subnormal range (x < -87.3) are not flushed.
// dst may be src. It panics if len(dst) != len(src).
//
// The generic code computes in float64 (0.5 ULP); the avx2 and avx512 code
// in float32 (1.48 and 1.51 ULP at worst over all inputs).
func Sigmoid(dst, src []float32) {
	checkSameLen("Sigmoid", []string{"dst", "src"}, dst, src)
	if p := elemParts(opSigmoid, len(dst)); p > 1 {
		runElem(opSigmoid, len(dst), p, 0, adamHyper{}, dst, src)
		return
	}
	kernels().sigmoid(dst, src)
}

// ReLU sets dst[i] = max(src[i], 0). dst may be src. It panics if
// len(dst) != len(src).
func ReLU(dst, src []float32) {
	checkSameLen("ReLU", []string{"dst", "src"}, dst, src)
	if p := elemParts(opReLU, len(dst)); p > 1 {
		runElem(opReLU, len(dst), p, 0, adamHyper{}, dst, src)
		return
	}
	kernels().relu(dst, src)
}

// ReLUBackward sets dx[i] = dy[i] where y[i] > 0, else 0, where y is the
// output of ReLU. dx may be dy. It panics unless the three lengths agree.
func ReLUBackward(dx, dy, y []float32) {
	checkSameLen("ReLUBackward", []string{"dx", "dy", "y"}, dx, dy, y)
	if p := elemParts(opReLUBackward, len(dx)); p > 1 {
		runElem(opReLUBackward, len(dx), p, 0, adamHyper{}, dx, dy, y)
		return
	}
	kernels().reluBackward(dx, dy, y)
}
