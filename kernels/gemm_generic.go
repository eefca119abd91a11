package kernels

// genericGemm is the portable blocked SGEMM, on panels small enough for any
// L1 and L2: a packed B panel of kc=256 k steps is 4 KiB, the packed A block
// 128×256 is 128 KiB.
var genericGemm = []*gemmConfig{{
	gemmTile: &gemmTile{
		name: "2x4", isa: "generic", mr: 2, nr: 4,
		kernel: sgemmKernel2x4,
	},
	kc: 256, mc: 128, nc: 2048, rate: 2,
	packTrans: packTransGeneric,
	packCopy:  packCopyGeneric,
}}

// sgemmKernel2x4 is the generic micro-kernel: 2×4 accumulators, the values
// of A and B and the products in flight fit the 15 XMM registers Go's amd64
// ABI leaves free (arm64 has 32). Scalar code does at most 4 flops a cycle
// (two multiplications and two additions), so this runs at about half of
// gonum's SSE assembly on amd64; it is what arm64 and old x86 run. The
// explicit float32 conversions keep Go from fusing a*b+c into an FMA (as it
// may on arm64, or on amd64 with GOAMD64=v3), so every architecture rounds
// identically.
func sgemmKernel2x4(k int, a []float32, _ int, b, c []float32, ldc, rows, cols int, beta float32) {
	acc := tile2x4(k, a, b, c, ldc, rows, cols, beta)
	for i := 0; i < rows; i++ {
		copy(c[i*ldc:i*ldc+cols], acc[i][:cols])
	}
}

// tile2x4 returns the 2×4 tile beta·C + A·B, its chains started from the
// rows×cols corner of C (0 beyond it, and everywhere when beta is 0).
func tile2x4(k int, a, b, c []float32, ldc, rows, cols int, beta float32) (acc [2][4]float32) {
	if beta != 0 {
		for i := 0; i < rows; i++ {
			for j, x := range c[i*ldc : i*ldc+cols] {
				acc[i][j] = float32(beta * x)
			}
		}
	}
	c00, c01, c02, c03 := acc[0][0], acc[0][1], acc[0][2], acc[0][3]
	c10, c11, c12, c13 := acc[1][0], acc[1][1], acc[1][2], acc[1][3]
	a, b = a[:2*k], b[:4*k]
	// Eight k steps a pass: Go schedules a pass's multiplications before
	// the additions that end it, and the spilling that follows with 16
	// values in flight then hits one step in eight instead of every one.
	p := 0
	for ; p+8 <= k; p += 8 {
		ap := (*[16]float32)(a[2*p:])
		bp := (*[32]float32)(b[4*p:])
		// k step p+0
		c00 += float32(ap[0] * bp[0])
		c10 += float32(ap[1] * bp[0])
		c01 += float32(ap[0] * bp[1])
		c11 += float32(ap[1] * bp[1])
		c02 += float32(ap[0] * bp[2])
		c12 += float32(ap[1] * bp[2])
		c03 += float32(ap[0] * bp[3])
		c13 += float32(ap[1] * bp[3])
		// k step p+1
		c00 += float32(ap[2] * bp[4])
		c10 += float32(ap[3] * bp[4])
		c01 += float32(ap[2] * bp[5])
		c11 += float32(ap[3] * bp[5])
		c02 += float32(ap[2] * bp[6])
		c12 += float32(ap[3] * bp[6])
		c03 += float32(ap[2] * bp[7])
		c13 += float32(ap[3] * bp[7])
		// k step p+2
		c00 += float32(ap[4] * bp[8])
		c10 += float32(ap[5] * bp[8])
		c01 += float32(ap[4] * bp[9])
		c11 += float32(ap[5] * bp[9])
		c02 += float32(ap[4] * bp[10])
		c12 += float32(ap[5] * bp[10])
		c03 += float32(ap[4] * bp[11])
		c13 += float32(ap[5] * bp[11])
		// k step p+3
		c00 += float32(ap[6] * bp[12])
		c10 += float32(ap[7] * bp[12])
		c01 += float32(ap[6] * bp[13])
		c11 += float32(ap[7] * bp[13])
		c02 += float32(ap[6] * bp[14])
		c12 += float32(ap[7] * bp[14])
		c03 += float32(ap[6] * bp[15])
		c13 += float32(ap[7] * bp[15])
		// k step p+4
		c00 += float32(ap[8] * bp[16])
		c10 += float32(ap[9] * bp[16])
		c01 += float32(ap[8] * bp[17])
		c11 += float32(ap[9] * bp[17])
		c02 += float32(ap[8] * bp[18])
		c12 += float32(ap[9] * bp[18])
		c03 += float32(ap[8] * bp[19])
		c13 += float32(ap[9] * bp[19])
		// k step p+5
		c00 += float32(ap[10] * bp[20])
		c10 += float32(ap[11] * bp[20])
		c01 += float32(ap[10] * bp[21])
		c11 += float32(ap[11] * bp[21])
		c02 += float32(ap[10] * bp[22])
		c12 += float32(ap[11] * bp[22])
		c03 += float32(ap[10] * bp[23])
		c13 += float32(ap[11] * bp[23])
		// k step p+6
		c00 += float32(ap[12] * bp[24])
		c10 += float32(ap[13] * bp[24])
		c01 += float32(ap[12] * bp[25])
		c11 += float32(ap[13] * bp[25])
		c02 += float32(ap[12] * bp[26])
		c12 += float32(ap[13] * bp[26])
		c03 += float32(ap[12] * bp[27])
		c13 += float32(ap[13] * bp[27])
		// k step p+7
		c00 += float32(ap[14] * bp[28])
		c10 += float32(ap[15] * bp[28])
		c01 += float32(ap[14] * bp[29])
		c11 += float32(ap[15] * bp[29])
		c02 += float32(ap[14] * bp[30])
		c12 += float32(ap[15] * bp[30])
		c03 += float32(ap[14] * bp[31])
		c13 += float32(ap[15] * bp[31])
	}
	acc = [2][4]float32{{c00, c01, c02, c03}, {c10, c11, c12, c13}}
	// The last k%8 steps, as few as they are, one at a time.
	for ; p < k; p++ {
		for i := range 2 {
			for j := range 4 {
				acc[i][j] += float32(a[2*p+i] * b[4*p+j])
			}
		}
	}
	return acc
}
