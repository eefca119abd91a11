//go:build amd64 && gc && !purego && !noasm

package kernels

// Cache blocking for the assembly kernels, chosen for Zen 4 (L1d 32 KiB and
// L2 1 MiB per core, L3 32 MiB shared) and sound on any recent x86:
//
//   - kc: each micro-kernel call streams an mr×kc panel of A and a kc×nr
//     panel of B and then reads and writes its mr×nr tile of C once. A deep kc
//     amortises that C traffic; kc=384 keeps the A panel (12×384×4 = 18 KiB)
//     in L1 beside the B stream, and the k of the default VAE (784) splits
//     into two equal blocks of 392.
//   - mc: the packed mc×kc block of A is reused by every B panel, so it lives
//     in L2: 192×384×4 = 288 KiB, under a third of L2, leaving room for the B
//     panels and C streaming through.
//   - nc: the packed kc×nc block of B is reused by every A block, so it lives
//     in L3: 384×4096×4 = 6 MiB per goroutine, two of them well inside 32 MiB.
//
// Products with n (or m) of 20 or 40, as in the VAE's 400→20/40 layers, waste
// a third of a 32-column tile, and 400 columns fit 40-wide tiles exactly:
// pickGemm weighs the tiles below by padded work, kernel speed and packing
// cost. The avx512 set may pick the AVX2 4×24 kernel, which it can run.
// When n fits one B panel, every panel of A is used once and the kernels
// read it in place (the AT and AN forms) instead of packing it.
var (
	avx2Gemm = gemmConfig{
		mr: 6, nr: 16,
		kc: 384, mc: 192, nc: 4096,
		speed:     0.95,
		kernel:    sgemmKernel6x16AVX2,
		kernelAT:  sgemmKernel6x16AVX2AT,
		kernelAN:  sgemmKernel6x16AVX2AN,
		packTrans: packTransAVX,
		packCopy:  packCopyAVX,
	}
	avx2Gemm4x24 = gemmConfig{
		mr: 4, nr: 24,
		kc: 384, mc: 192, nc: 4080,
		speed:     0.9,
		kernel:    sgemmKernel4x24AVX2,
		kernelAT:  sgemmKernel4x24AVX2AT,
		kernelAN:  sgemmKernel4x24AVX2AN,
		packTrans: packTransAVX,
		packCopy:  packCopyAVX,
	}
	avx512Gemm = gemmConfig{
		mr: 12, nr: 32,
		kc: 384, mc: 192, nc: 4096,
		speed:     1.0,
		kernel:    sgemmKernel12x32AVX512,
		kernelAT:  sgemmKernel12x32AVX512AT,
		kernelAN:  sgemmKernel12x32AVX512AN,
		packTrans: packTransAVX,
		packCopy:  packCopyAVX,
	}
	avx512Gemm12x24 = gemmConfig{
		mr: 12, nr: 24,
		kc: 384, mc: 192, nc: 4080,
		speed:     0.85,
		kernel:    sgemmKernel12x24AVX512,
		kernelAT:  sgemmKernel12x24AVX512AT,
		kernelAN:  sgemmKernel12x24AVX512AN,
		packTrans: packTransAVX,
		packCopy:  packCopyAVX,
	}
	avx512Gemm8x40 = gemmConfig{
		mr: 8, nr: 40,
		kc: 384, mc: 192, nc: 4080,
		speed:     0.97,
		kernel:    sgemmKernel8x40AVX512,
		kernelAT:  sgemmKernel8x40AVX512AT,
		kernelAN:  sgemmKernel8x40AVX512AN,
		packTrans: packTransAVX,
		packCopy:  packCopyAVX,
	}
)

func sgemmAVX2(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := pickGemm(transA, transB, m, n, k, &avx2Gemm, &avx2Gemm4x24)
	sgemmBlocked(g, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func sgemmAVX512(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := pickGemm(transA, transB, m, n, k, &avx512Gemm, &avx512Gemm8x40, &avx512Gemm12x24, &avx2Gemm4x24)
	sgemmBlocked(g, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// packTransAVX is packTrans with the 8- and 4-row blocks of whole groups of
// 8 k steps transposed in registers; the few rows and k steps left over go
// element by element.
func packTransAVX(dst, src []float32, ld, rows, kc, width int) {
	kc8 := kc &^ 7
	r := 0
	if kc8 > 0 {
		for ; r+8 <= rows; r += 8 {
			packTranspose8AVX(dst[r:], src[r*ld:], ld, kc8, width)
		}
		if r+4 <= rows {
			packTranspose4AVX(dst[r:], src[r*ld:], ld, kc8, width)
			r += 4
		}
	}
	if r < rows {
		packTransGeneric(dst[r:], src[r*ld:], ld, rows-r, kc, width)
	}
	if r > 0 && kc8 < kc {
		packTransGeneric(dst[kc8*width:], src[kc8:], ld, r, kc-kc8, width)
	}
}
