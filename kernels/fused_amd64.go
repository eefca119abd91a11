//go:build amd64 && gc && !purego && !noasm

package kernels

// adamStepAVX2Hyper adapts the assembly, which takes the scalars one by one,
// to the kernelSet signature.
func adamStepAVX2Hyper(param, grad, m, v []float32, h adamHyper) {
	adamStepAVX2(param, grad, m, v, h.beta1, h.omb1, h.beta2, h.omb2, h.negStep, h.epsS)
}

// sumRowsStack is the widest matrix whose float64 column sums sumRowsAcc
// keeps on the stack; wider ones allocate.
const sumRowsStack = 1024

// sumRowsAcc gives the assembly a float64 accumulator row, so that it can
// stream src row by row (a column-blocked walk strides through memory).
func sumRowsAcc(dst, src []float32, ld, rows int) {
	if len(dst) == 0 || rows == 0 {
		clear(dst)
		return
	}
	var buf [sumRowsStack]float64
	acc := buf[:]
	if len(dst) > len(acc) {
		acc = make([]float64, len(dst))
	}
	sumRowsAVX2(dst, src, ld, rows, acc[:len(dst)])
}
