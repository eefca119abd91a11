package bench

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/fastvae/fastvae/internal/cputime"
	"github.com/fastvae/fastvae/kernels"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmShape is one product C[m×n] = op(A)·op(B) with depth k; layout names
// the transposes of A and B as BLAS does (N as stored, T transposed).
type gemmShape struct {
	m, n, k int
	layout  string
}

// sgemmShapes are every product of one training step of the default
// 784-400-20 VAE at batch 128, with W stored [out, in] as PyTorch does —
// forward y = x·Wᵀ (NT), backward dx = dy·W (NN), dW = dyᵀ·x (TN); the
// first layer needs no dx and the 400→20 mu and logvar layers appear both
// fused (400→40) and apart — then squares.
var sgemmShapes = []gemmShape{
	{128, 400, 784, "NT"}, {400, 784, 128, "TN"}, // encoder 784→400
	{128, 40, 400, "NT"}, {128, 400, 40, "NN"}, {40, 400, 128, "TN"}, // mu‖logvar 400→40
	{128, 20, 400, "NT"}, {128, 400, 20, "NN"}, {20, 400, 128, "TN"}, // mu or logvar 400→20
	{128, 400, 20, "NT"}, {128, 20, 400, "NN"}, {400, 20, 128, "TN"}, // decoder 20→400
	{128, 784, 400, "NT"}, {128, 400, 784, "NN"}, {784, 400, 128, "TN"}, // decoder 400→784
	{256, 256, 256, "NN"}, {512, 512, 512, "NN"}, {1024, 1024, 1024, "NN"}, {2048, 2048, 2048, "NN"},
}

// operands returns A, B and C for s with tight leading dimensions.
func (s gemmShape) operands() (transA, transB bool, a []float32, lda int, b []float32, ldb int, c []float32) {
	transA, transB = s.layout[0] == 'T', s.layout[1] == 'T'
	a, b, c = make([]float32, s.m*s.k), make([]float32, s.k*s.n), make([]float32, s.m*s.n)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range b {
		b[i] = float32(i%5) - 2
	}
	lda, ldb = s.k, s.n
	if transA {
		lda = s.m
	}
	if transB {
		ldb = s.k
	}
	return transA, transB, a, lda, b, ldb, c
}

// BenchmarkSgemm times kernels.Sgemm with every implementation this CPU runs
// and gonum's Sgemm, on one and two threads, and reports GFLOP/s against wall
// time and against the CPU time the process used (GFLOP/cpu-s).
func BenchmarkSgemm(b *testing.B) {
	defer kernels.SetThreads(kernels.Threads())
	defer func(name string) { _ = kernels.Use(name) }(kernels.Impl())
	impls := append(kernels.Available(), "gonum")
	for _, impl := range impls {
		for _, threads := range []int{1, 2} {
			for _, s := range sgemmShapes {
				name := fmt.Sprintf("impl=%s/threads=%d/shape=%dx%dx%d/layout=%s", impl, threads, s.m, s.n, s.k, s.layout)
				b.Run(name, func(b *testing.B) {
					if testing.Short() && (impl == "generic" || impl == "gonum") && s.m*s.n*s.k > 512*512*512 {
						b.Skip("-short: the scalar implementations take seconds here")
					}
					benchSgemm(b, impl, threads, s)
				})
			}
		}
	}
}

func benchSgemm(b *testing.B, impl string, threads int, s gemmShape) {
	transA, transB, a, lda, bm, ldb, c := s.operands()
	call := func() { kernels.Sgemm(transA, transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n) }
	if impl == "gonum" {
		// gonum parallelises over GOMAXPROCS goroutines.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
		ta, tb := blas.NoTrans, blas.NoTrans
		if transA {
			ta = blas.Trans
		}
		if transB {
			tb = blas.Trans
		}
		call = func() { gonum.Implementation{}.Sgemm(ta, tb, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n) }
	} else {
		if err := kernels.Use(impl); err != nil {
			b.Fatal(err)
		}
		kernels.SetThreads(threads)
	}
	call() // warm the packing buffers and the caches
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		call()
	}
	cpu := cputime.Process() - cpu0
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		// Per second of CPU used by the whole process: on one thread, the
		// speed the code would have on an idle core of this shared machine.
		b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}
