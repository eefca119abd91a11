package kernels

// TODO(gemm): a packed, blocked generic kernel. This placeholder is the plain
// triple loop with BLAS semantics.
func sgemmGeneric(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			var sum float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
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
