package kernels

import "fmt"

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, where
// op(A) is m×k and op(B) is k×n. A is m×k with lda ≥ k, or k×m with lda ≥ m
// when transA; B is k×n with ldb ≥ n, or n×k with ldb ≥ k when transB; C is
// m×n with ldc ≥ n. As in BLAS, C is not read when beta == 0 (NaN or Inf in
// it are overwritten), alpha == 0 or k == 0 only scale C by beta, and m == 0
// or n == 0 does nothing. Only the m×n elements of C are written: the gaps
// of a leading dimension larger than n are left alone. C must not overlap A
// or B.
//
// Each element is one chain of multiply-adds over k in order, started from
// beta·c (from 0 when beta == 0), with alpha applied to B's elements first
// (when alpha ≠ 1): c = fma(a_i,k−1, alpha·b_k−1,j, … fma(a_i0, alpha·b_0j,
// beta·c)), fused in the assembly and rounded after each multiplication
// and addition in the generic code (on every architecture alike). With
// ε = 2⁻²³ it is within
//
//	|c − ref| ≤ (k+2)·ε·(|alpha|·Σₚ|a_ip·b_pj| + |beta·c_ij|)
//
// of the exact result ref (barring overflow and underflow): every term goes
// through at most k+2 roundings. The chain is the same whatever the
// micro-kernel, the cache blocking or the number of threads ([Threads])
// that the product is split between (along whole tiles of C, never along
// k), so the result depends only on the implementation in use ([Impl]).
// Once its packing buffers exist, Sgemm allocates nothing.
//
// It panics on negative dimensions, leading dimensions too small for the
// shape, and slices too short for it.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("a", a, ar, ac, lda)
	checkMatrix("b", b, br, bc, ldb)
	checkMatrix("c", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	g := pickGemm(transA, transB, m, n, k, kernels().gemm)
	sgemmBlocked(g, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkMatrix panics unless s holds a rows×cols row-major matrix with leading
// dimension ld.
func checkMatrix(name string, s []float32, rows, cols, ld int) {
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("kernels: Sgemm: ld%s=%d < %d columns", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("kernels: Sgemm: len(%s)=%d too short for %d×%d with ld%s=%d (need %d)", name, len(s), rows, cols, name, ld, need))
	}
}
