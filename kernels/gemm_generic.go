package kernels

// TODO(gemm): a packed, blocked generic kernel. This placeholder is the plain
// triple loop with BLAS semantics.
func sgemmGeneric(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			var sum float32
			for p := 0; p < k; p++ {
				av := a[i*lda+p]
				if transA {
					av = a[p*lda+i]
				}
				bv := b[p*ldb+j]
				if transB {
					bv = b[j*ldb+p]
				}
				sum += float32(av * bv)
			}
			v := alpha * sum
			if beta != 0 {
				v += beta * row[j]
			}
			row[j] = v
		}
	}
}
