package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// elementwiseBenchSizes are a vector that stays in L1 (16 KiB in, 16 KiB
// out) and one that streams from L3 (4 MB each way).
var elementwiseBenchSizes = []int{4096, 1_000_000}

// benchElementwise runs f as BenchmarkX/impl=I/n=N for every implementation
// this CPU runs and every size, reporting bytes moved (bytesPerElem per
// element) and elements per second.
func benchElementwise(b *testing.B, bytesPerElem int, setup func(n int) func()) {
	prev := Impl()
	defer func() { _ = Use(prev) }()
	for _, impl := range Available() {
		for _, n := range elementwiseBenchSizes {
			run := setup(n)
			b.Run(fmt.Sprintf("impl=%s/n=%d", impl, n), func(b *testing.B) {
				if err := Use(impl); err != nil {
					b.Fatal(err)
				}
				reportElementwise(b, n, bytesPerElem, run)
			})
		}
	}
}

func reportElementwise(b *testing.B, n, bytesPerElem int, run func()) {
	b.SetBytes(int64(n * bytesPerElem))
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
}

// uniformVec returns n values uniform in [lo, hi): logits and log-variances
// of a trained VAE stay well inside ±10.
func uniformVec(n int, lo, hi float64) []float32 {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return s
}

func BenchmarkExp(b *testing.B) {
	benchElementwise(b, 8, func(n int) func() {
		src, dst := uniformVec(n, -10, 10), make([]float32, n)
		return func() { Exp(dst, src) }
	})
}

func BenchmarkSigmoid(b *testing.B) {
	benchElementwise(b, 8, func(n int) func() {
		src, dst := uniformVec(n, -10, 10), make([]float32, n)
		return func() { Sigmoid(dst, src) }
	})
}

func BenchmarkReLU(b *testing.B) {
	benchElementwise(b, 8, func(n int) func() {
		src, dst := uniformVec(n, -1, 1), make([]float32, n)
		return func() { ReLU(dst, src) }
	})
}

func BenchmarkReLUBackward(b *testing.B) {
	benchElementwise(b, 12, func(n int) func() {
		dy, y, dx := uniformVec(n, -1, 1), uniformVec(n, -1, 1), make([]float32, n)
		ReLU(y, y)
		return func() { ReLUBackward(dx, dy, y) }
	})
}

// BenchmarkCopy is the bandwidth reference for the elementwise kernels: the
// same bytes moved, no arithmetic. It is named impl=go (Go's built-in copy)
// as the fused benchmarks name their copy reference, so that every result
// has an implementation to group by.
func BenchmarkCopy(b *testing.B) {
	for _, n := range elementwiseBenchSizes {
		src, dst := uniformVec(n, -1, 1), make([]float32, n)
		b.Run(fmt.Sprintf("impl=go/n=%d", n), func(b *testing.B) {
			reportElementwise(b, n, 8, func() { copy(dst, src) })
		})
	}
}
