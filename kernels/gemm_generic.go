package kernels

// genericGemm is the portable blocked SGEMM. Its 4×4 micro-kernel keeps 16
// accumulators in registers (arm64 has 32 FP registers; amd64's 16 XMM hold
// them with some spilling) on panels small enough for any L1/L2: a packed
// B panel of kc=256 k steps is 4 KiB, the packed A block 128×256 is 128 KiB.
var genericGemm = gemmConfig{
	mr: 4, nr: 4,
	kc: 256, mc: 128, nc: 2048,
	kernel: sgemmKernel4x4,
}

func sgemmGeneric(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmBlocked(&genericGemm, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmKernel4x4 is the generic micro-kernel. The explicit float32
// conversions keep Go from fusing a*b+c into an FMA (as it may on arm64, or
// on amd64 with GOAMD64=v3), so every architecture rounds identically.
func sgemmKernel4x4(k int, a, b, c []float32, ldc, rows, cols int, alpha, beta float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	a, b = a[:4*k], b[:4*k]
	for len(a) >= 4 && len(b) >= 4 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += float32(a0 * b0)
		c01 += float32(a0 * b1)
		c02 += float32(a0 * b2)
		c03 += float32(a0 * b3)
		c10 += float32(a1 * b0)
		c11 += float32(a1 * b1)
		c12 += float32(a1 * b2)
		c13 += float32(a1 * b3)
		c20 += float32(a2 * b0)
		c21 += float32(a2 * b1)
		c22 += float32(a2 * b2)
		c23 += float32(a2 * b3)
		c30 += float32(a3 * b0)
		c31 += float32(a3 * b1)
		c32 += float32(a3 * b2)
		c33 += float32(a3 * b3)
		a, b = a[4:], b[4:]
	}
	acc := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		for j := range row {
			v := float32(alpha * acc[i][j])
			if beta != 0 {
				v = float32(beta*row[j]) + v
			}
			row[j] = v
		}
	}
}
