package kernels

import (
	"fmt"
	"sync"
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, where
// op(A) is m×k and op(B) is k×n. A is m×k with lda ≥ k, or k×m with lda ≥ m
// when transA; B is k×n with ldb ≥ n, or n×k with ldb ≥ k when transB; C is
// m×n with ldc ≥ n. As in BLAS, C is not read when beta == 0 (NaN or Inf in
// it are overwritten), alpha == 0 or k == 0 only scale C by beta, and m == 0
// or n == 0 does nothing. Only the m×n elements of C are written: the gaps
// of a leading dimension larger than n are left alone. C must not overlap A
// or B.
//
// Each element is one chain of fused multiply-adds over k in order, started
// from beta·c (from 0 when beta == 0), with alpha applied to B's elements
// first (when alpha ≠ 1): c = fma(a_i,k−1, alpha·b_k−1,j, … fma(a_i0,
// alpha·b_0j, beta·c)). With ε = 2⁻²³ it is within
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
	checkMatrix("Sgemm", "a", a, ar, ac, lda)
	checkMatrix("Sgemm", "b", b, br, bc, ldb)
	checkMatrix("Sgemm", "c", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	g := pickGemm(transA, transB, m, n, k, kernels().gemm)
	sgemmBlocked(g, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// SgemmAdam applies one Adam update to param, whose gradient is the m×n
// product op(A)·op(B) (shaped as in [Sgemm]), and updates the moment
// estimates mom and vel: the result is bit for bit that of computing the
// gradient G with Sgemm (alpha 1, beta 0) and then calling
// AdamStep(param, G, mom, vel, lr, beta1, beta2, eps, step). G itself is
// never stored: each tile of it updates its part of the parameters while it
// is still in registers, so the update costs no pass of its own over memory.
// param, mom and vel are m×n row-major matrices of leading dimension n; no
// two of them, nor A or B, may overlap. When k is deeper than one k block of
// the micro-kernel, the partial sums of G go through scratch memory that the
// first such call allocates and later ones reuse.
//
// It panics on negative dimensions, leading dimensions too small for the
// shape, slices too short for it, param, mom or vel not of length m·n, and
// step < 1.
func SgemmAdam(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, param, mom, vel []float32, lr, beta1, beta2, eps float32, step int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: SgemmAdam: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("SgemmAdam", "a", a, ar, ac, lda)
	checkMatrix("SgemmAdam", "b", b, br, bc, ldb)
	for _, p := range []struct {
		name string
		s    []float32
	}{{"param", param}, {"mom", mom}, {"vel", vel}} {
		if len(p.s) != m*n {
			panic(fmt.Sprintf("kernels: SgemmAdam: len(%s)=%d, want m·n=%d·%d", p.name, len(p.s), m, n))
		}
	}
	if step < 1 {
		panic(fmt.Sprintf("kernels: SgemmAdam: step=%d < 1", step))
	}
	if m == 0 || n == 0 {
		return
	}
	u := adamUpdate{param: param, m: mom, v: vel, h: newAdamHyper(lr, beta1, beta2, eps, step)}
	sgemmAdam(pickGemm(transA, transB, m, n, k, kernels().gemm), transA, transB, m, n, k, a, lda, b, ldb, &u)
}

// sgemmAdam is SgemmAdam (arguments checked, m, n > 0) with the tile and
// blocking of g.
func sgemmAdam(g *gemmConfig, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, u *adamUpdate) {
	if k == 0 || k > g.kc {
		scratch := adamScratch(m * n)
		defer adamScratchDone(scratch)
		if k == 0 {
			clear(scratch)
			kernels().adamStep(u.param, scratch, u.m, u.v, u.h)
			return
		}
		sgemmBlocked(g, transA, transB, m, n, k, 1, a, lda, b, ldb, 0, scratch, n, u)
		return
	}
	// One k block holds the whole product: C is neither read (beta 0) nor
	// written, and param stands in for it.
	sgemmBlocked(g, transA, transB, m, n, k, 1, a, lda, b, ldb, 0, u.param, n, u)
}

// adamScratches keep SgemmAdam's scratch matrices for reuse.
var adamScratches struct {
	sync.Mutex
	free [][]float32
}

// adamScratch returns at least n float32s, its contents undefined.
func adamScratch(n int) []float32 {
	adamScratches.Lock()
	defer adamScratches.Unlock()
	for i, s := range adamScratches.free {
		if cap(s) >= n {
			adamScratches.free = append(adamScratches.free[:i], adamScratches.free[i+1:]...)
			return s[:n]
		}
	}
	return make([]float32, n)
}

func adamScratchDone(s []float32) {
	adamScratches.Lock()
	adamScratches.free = append(adamScratches.free, s)
	adamScratches.Unlock()
}

// checkMatrix panics unless s holds a rows×cols row-major matrix with leading
// dimension ld.
func checkMatrix(op, name string, s []float32, rows, cols, ld int) {
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("kernels: %s: ld%s=%d < %d columns", op, name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("kernels: %s: len(%s)=%d too short for %d×%d with ld%s=%d (need %d)", op, name, len(s), rows, cols, name, ld, need))
	}
}
