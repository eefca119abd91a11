package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The fused-kernel benchmarks run each kernel at the default VAE's sizes and
// at 1e6 elements, per implementation, next to two references:
//
//   - variant=unfused: the same work as a framework does it, one pass per
//     operation, from the elementwise kernels (Exp, Sigmoid) of the same
//     implementation and plain Go loops;
//   - impl=go/variant=copy: Go's built-in copy moving as many bytes (half
//     read, half written) as the kernel reads and writes, the bandwidth to
//     beat.
//
// Every name carries the same keys (impl, variant, then the size), so that
// benchstat can pivot on any of them: -col /variant compares fused with
// unfused per implementation, -col /impl the implementations.
//
// b.SetBytes counts every byte the fused kernel reads and writes, for all
// three, so their MB/s compare directly.

// Default VAE shapes: batch 128, 784 pixels, 400 hidden units, 20 latents.
const (
	benchBatch  = 128
	benchLatent = 20
	benchPixels = 784
	benchHidden = 400
	// benchParams counts the default model's parameters: the encoder's
	// 784→400 layer and two 400→20 heads, the decoder's 20→400 and 400→784.
	benchParams  = 784*400 + 400 + 2*(400*20+20) + 20*400 + 400 + 400*784 + 784
	benchMillion = 1_000_000
)

// benchVec returns n floats drawn by f from the given seed.
func benchVec(n, seed int, f func(r *rand.Rand) float64) []float32 {
	r := rand.New(rand.NewPCG(uint64(n), uint64(seed)))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(f(r))
	}
	return s
}

func normal(r *rand.Rand) float64  { return r.NormFloat64() }
func uniform(r *rand.Rand) float64 { return r.Float64() }

// benchFused runs fused and unfused under every implementation, and the copy
// reference once, all at the given name and byte count.
func benchFused(b *testing.B, name string, bytes int, fused, unfused func()) {
	b.Helper()
	prev := Impl()
	defer func() { _ = Use(prev) }()
	for _, impl := range Available() {
		if err := Use(impl); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("impl=%s/variant=fused/%s", impl, name), func(b *testing.B) { runBytes(b, bytes, fused) })
		b.Run(fmt.Sprintf("impl=%s/variant=unfused/%s", impl, name), func(b *testing.B) { runBytes(b, bytes, unfused) })
	}
	src, dst := copyBuffers(bytes)
	b.Run("impl=go/variant=copy/"+name, func(b *testing.B) { runBytes(b, bytes, func() { copy(dst, src) }) })
}

// copyBuffers returns the source and destination of a copy moving bytes in
// all, half read and half written. Both are written first: a never-touched
// source would be the kernel's shared zero page, read from cache.
func copyBuffers(bytes int) (src, dst []byte) {
	src, dst = make([]byte, bytes/2), make([]byte, bytes/2)
	for i := range src {
		src[i], dst[i] = byte(i*7+1), byte(i)
	}
	return src, dst
}

func runBytes(b *testing.B, bytes int, f func()) {
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	for b.Loop() {
		f()
	}
}

// sink keeps the benchmarks' sums alive.
var sink float64

// addCase registers one kernel at one size: the fused call, the unfused
// sequence and the bytes the fused kernel reads and writes.
type addCase func(size string, bytes int, fused, unfused func())

// benchCase runs each case registered with it as sub-benchmarks of b.
func benchCase(b *testing.B) addCase {
	return func(size string, bytes int, fused, unfused func()) { benchFused(b, size, bytes, fused, unfused) }
}

func BenchmarkReparamKL(b *testing.B)         { casesReparamKL(benchCase(b)) }
func BenchmarkReparamKLBackward(b *testing.B) { casesReparamKLBackward(benchCase(b)) }
func BenchmarkBCEWithLogits(b *testing.B)     { casesBCEWithLogits(benchCase(b)) }
func BenchmarkSquaredError(b *testing.B)      { casesSquaredError(benchCase(b)) }
func BenchmarkAdamStep(b *testing.B)          { casesAdamStep(benchCase(b)) }
func BenchmarkAddBias(b *testing.B)           { casesAddBias(benchCase(b)) }
func BenchmarkSumRows(b *testing.B)           { casesSumRows(benchCase(b)) }

// fusedCases lists every case of every fused kernel by kernel name.
var fusedCases = []struct {
	kernel string
	cases  func(addCase)
}{
	{"ReparamKL", casesReparamKL}, {"ReparamKLBackward", casesReparamKLBackward},
	{"BCEWithLogits", casesBCEWithLogits}, {"SquaredError", casesSquaredError},
	{"AdamStep", casesAdamStep}, {"AddBias", casesAddBias}, {"SumRows", casesSumRows},
}

func casesReparamKL(add addCase) {
	for _, n := range []int{benchBatch * benchLatent, benchMillion} {
		mu, eps := benchVec(n, 0, normal), benchVec(n, 1, normal)
		lv := benchVec(n, 2, func(r *rand.Rand) float64 { return 4*r.Float64() - 3 })
		z, s, e := make([]float32, n), make([]float32, n), make([]float32, n)
		add(fmt.Sprintf("n=%d", n), 16*n,
			func() { sink = ReparamKL(z, mu, lv, eps) },
			func() {
				for i, x := range lv {
					s[i] = x / 2
				}
				Exp(s, s)
				for i, m := range mu {
					z[i] = m + eps[i]*s[i]
				}
				Exp(e, lv)
				var kl float64
				for i, m := range mu {
					kl += float64(1 + lv[i] - m*m - e[i])
				}
				sink = -kl / 2
			})
	}
}

func casesReparamKLBackward(add addCase) {
	for _, n := range []int{benchBatch * benchLatent, benchMillion} {
		mu, eps, dz := benchVec(n, 0, normal), benchVec(n, 1, normal), benchVec(n, 3, normal)
		lv := benchVec(n, 2, func(r *rand.Rand) float64 { return 4*r.Float64() - 3 })
		dmu, dlv, s := make([]float32, n), make([]float32, n), make([]float32, n)
		const beta = 1
		add(fmt.Sprintf("n=%d", n), 24*n,
			func() { ReparamKLBackward(dmu, dlv, dz, mu, lv, eps, beta) },
			func() {
				for i, g := range dz {
					dmu[i] = g + beta*mu[i]
				}
				for i, x := range lv {
					s[i] = x / 2
				}
				Exp(s, s)
				for i, g := range dz {
					dlv[i] = g * eps[i] * s[i] / 2
				}
				for i, x := range s {
					dlv[i] += beta * (x*x - 1) / 2
				}
			})
	}
}

func casesBCEWithLogits(add addCase) {
	for _, n := range []int{benchBatch * benchPixels, benchMillion} {
		logits := benchVec(n, 0, func(r *rand.Rand) float64 { return 6 * r.NormFloat64() })
		target := benchVec(n, 1, uniform)
		dl, e := make([]float32, n), make([]float32, n)
		const scale = 1.0 / benchBatch
		add(fmt.Sprintf("n=%d", n), 12*n,
			func() { sink = BCEWithLogits(dl, logits, target, scale) },
			func() {
				Sigmoid(dl, logits)
				for i, t := range target {
					dl[i] = scale * (dl[i] - t)
				}
				for i, l := range logits {
					e[i] = -float32(math.Abs(float64(l)))
				}
				Exp(e, e)
				var sum float64
				for i, l := range logits {
					sum += float64(max(l, 0)-target[i]*l) + math.Log1p(float64(e[i]))
				}
				sink = sum
			})
	}
}

func casesSquaredError(add addCase) {
	for _, n := range []int{benchBatch * benchPixels, benchMillion} {
		out, target := benchVec(n, 0, normal), benchVec(n, 1, uniform)
		dout := make([]float32, n)
		const scale = 1.0 / benchBatch
		add(fmt.Sprintf("n=%d", n), 12*n,
			func() { sink = SquaredError(dout, out, target, scale) },
			func() {
				for i, o := range out {
					dout[i] = o - target[i]
				}
				var sum float64
				for _, d := range dout {
					sum += float64(d) * float64(d)
				}
				for i := range dout {
					dout[i] *= scale
				}
				sink = sum / 2
			})
	}
}

func casesAdamStep(add addCase) {
	for _, n := range []int{benchParams, benchMillion} {
		p, g := benchVec(n, 0, normal), benchVec(n, 1, normal)
		m, v, denom := make([]float32, n), make([]float32, n), make([]float32, n)
		const lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
		h := newAdamHyper(lr, beta1, beta2, eps, 10)
		sqrtBias2 := float32(math.Sqrt(1 - math.Pow(beta2, 10)))
		negStep := float32(-lr / (1 - math.Pow(beta1, 10)))
		add(fmt.Sprintf("n=%d", n), 28*n,
			func() { AdamStep(p, g, m, v, lr, beta1, beta2, eps, 10) },
			func() {
				// torch.optim.Adam's single-tensor path, one op per pass.
				for i := range m {
					m[i] *= beta1
				}
				for i, x := range g {
					m[i] += h.omb1 * x
				}
				for i := range v {
					v[i] *= beta2
				}
				for i, x := range g {
					v[i] += h.omb2 * x * x
				}
				for i, x := range v {
					denom[i] = float32(math.Sqrt(float64(x)))
				}
				for i := range denom {
					denom[i] /= sqrtBias2
				}
				for i := range denom {
					denom[i] += eps
				}
				for i, x := range m {
					p[i] += negStep * x / denom[i]
				}
			})
	}
}

// biasShapes are the model's bias-bearing layer outputs at batch 128 and a
// 1e6-element matrix.
var benchBiasShapes = [][2]int{{benchBatch, benchHidden}, {benchBatch, benchPixels}, {benchMillion / benchHidden, benchHidden}}

func casesAddBias(add addCase) {
	for _, sh := range benchBiasShapes {
		rows, cols := sh[0], sh[1]
		y, bias := benchVec(rows*cols, 0, normal), benchVec(cols, 1, normal)
		add(fmt.Sprintf("shape=%dx%d", rows, cols), 8*rows*cols+4*cols,
			func() { AddBias(y, bias) },
			func() {
				for r := 0; r < len(y); r += cols {
					for j, x := range bias {
						y[r+j] += x
					}
				}
			})
	}
}

func casesSumRows(add addCase) {
	for _, sh := range benchBiasShapes {
		rows, cols := sh[0], sh[1]
		src, dst := benchVec(rows*cols, 0, normal), make([]float32, cols)
		add(fmt.Sprintf("shape=%dx%d", rows, cols), 4*rows*cols+4*cols,
			func() { SumRows(dst, src) },
			func() {
				clear(dst)
				for r := 0; r < len(src); r += cols {
					for j, x := range src[r : r+cols] {
						dst[j] += x
					}
				}
			})
	}
}
