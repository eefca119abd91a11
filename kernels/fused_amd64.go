//go:build amd64 && gc && !purego && !noasm

package kernels

// adamStepAVX2Hyper adapts the assembly, which takes the scalars one by one,
// to the kernelSet signature.
func adamStepAVX2Hyper(param, grad, m, v []float32, h adamHyper) {
	adamStepAVX2(param, grad, m, v, h.beta1, h.omb1, h.beta2, h.omb2, h.negStep, h.sqrtBias2, h.eps)
}
