package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fastvae/fastvae/internal/impltest"
)

// elemCall runs one kernel on fresh copies of the inputs and returns its
// outputs and sum.
type elemCall struct {
	name string
	run  func(in [][]float32) (out [][]float32, sum float64)
}

func elemCalls() []elemCall {
	// clones returns copies of in's first k slices (the outputs a kernel
	// writes in place) beside the rest.
	clones := func(in [][]float32, k int) [][]float32 {
		out := make([][]float32, len(in))
		for i, s := range in {
			if i < k {
				s = slices.Clone(s)
			}
			out[i] = s
		}
		return out
	}
	unary := func(name string, f func(dst, src []float32)) elemCall {
		return elemCall{name, func(in [][]float32) ([][]float32, float64) {
			s := clones(in, 1)
			f(s[0], s[1])
			return s[:1], 0
		}}
	}
	return []elemCall{
		unary("Exp", Exp), unary("Sigmoid", Sigmoid), unary("ReLU", ReLU),
		{"ReLUBackward", func(in [][]float32) ([][]float32, float64) {
			s := clones(in, 1)
			ReLUBackward(s[0], s[1], s[2])
			return s[:1], 0
		}},
		{"AddBias", func(in [][]float32) ([][]float32, float64) {
			s := clones(in, 1)
			AddBias(s[0][:len(s[0])/8*8], s[1][:8])
			return s[:1], 0
		}},
		{"AdamStep", func(in [][]float32) ([][]float32, float64) {
			s := clones(in, 4)
			for i := range s[3] {
				s[3][i] = float32(math.Abs(float64(s[3][i])))
			}
			AdamStep(s[0], s[1], s[2], s[3], 1e-3, 0.9, 0.999, 1e-8, 5)
			return s[:4], 0
		}},
		{"ReparamKL", func(in [][]float32) ([][]float32, float64) {
			s := clones(in, 1)
			sum := ReparamKL(s[0], s[1], s[2], s[3])
			return s[:1], sum
		}},
		{"ReparamKLBackward", func(in [][]float32) ([][]float32, float64) {
			s := clones(in, 2)
			ReparamKLBackward(s[0], s[1], s[2], s[3], s[4], s[5], 0.7)
			return s[:2], 0
		}},
		{"BCEWithLogits", func(in [][]float32) ([][]float32, float64) {
			s := clones(in, 3) // the targets are moved into [0, 1]
			for i, v := range s[2] {
				s[2][i] = (v + 1) / 2
			}
			sum := BCEWithLogits(s[0], s[1], s[2], 1)
			return s[:1], sum
		}},
		{"SumRows", func(in [][]float32) ([][]float32, float64) {
			for _, cols := range []int{784, 40} {
				if len(in[1]) >= cols {
					dst := make([]float32, cols)
					SumRows(dst, in[1][:len(in[1])/cols*cols])
					return [][]float32{dst}, 0
				}
			}
			return nil, 0
		}},
		{"SquaredError", func(in [][]float32) ([][]float32, float64) {
			s := clones(in, 1)
			sum := SquaredError(s[0], s[1], s[2], 0.5)
			return s[:1], sum
		}},
	}
}

// TestElementwiseThreadsBitIdentical: every elementwise and fused kernel
// gives the same bits, sums included, on 1, 2, 3 and 8 threads, at lengths
// that are split between goroutines and cut sums into chunks, with ragged
// ends.
func TestElementwiseThreadsBitIdentical(t *testing.T) {
	defer SetThreads(Threads())
	rng := rand.New(rand.NewPCG(11, 12))
	lengths := []int{5000, 100352, 1<<17 + 13, 1<<20 + 7} // the last splits even streaming kernels 8 ways
	if testing.Short() {
		lengths = lengths[:3]
	}
	impls.Each(t, func(t *testing.T) {
		for _, n := range lengths {
			// The calls write copies of their outputs: every slice of in
			// is read only.
			g := guards{t: t}
			in := make([][]float32, 6)
			for i := range in {
				vals := make([]float32, n)
				for j := range vals {
					vals[j] = rng.Float32()*4 - 2
				}
				in[i] = g.in(vals, i)
			}
			for _, call := range elemCalls() {
				SetThreads(1)
				want, wantSum := call.run(in)
				for _, threads := range []int{2, 3, 8} {
					SetThreads(threads)
					got, sum := call.run(in)
					require.Equal(t, math.Float64bits(wantSum), math.Float64bits(sum), "%s n=%d threads=%d: sum", call.name, n, threads)
					for i := range want {
						if !impltest.BitsEqual(t, want[i], got[i], "%s n=%d threads=%d: output %d", call.name, n, threads, i) {
							return
						}
					}
				}
			}
			g.check()
		}
	})
}

// TestElementwiseNoAllocs: split kernels allocate nothing once the team's
// workers exist.
func TestElementwiseNoAllocs(t *testing.T) {
	defer SetThreads(Threads())
	const n = 100352
	in := make([][]float32, 6)
	for i := range in {
		in[i] = make([]float32, n)
	}
	for _, threads := range []int{1, 2} {
		SetThreads(threads)
		BCEWithLogits(in[0], in[1], in[2], 1)
		ReLU(in[0], in[1])
		allocs := testing.AllocsPerRun(20, func() {
			BCEWithLogits(in[0], in[1], in[2], 1)
			ReLU(in[0], in[1])
			AdamStep(in[0], in[1], in[2], in[3], 1e-3, 0.9, 0.999, 1e-8, 1)
		})
		assert.Zero(t, allocs, "threads=%d", threads)
	}
}

// TestSumChunks: the chunk grid depends on the length alone, covers it, and
// keeps short sums whole.
func TestSumChunks(t *testing.T) {
	for _, n := range []int{1, sumChunkMin, sumChunkMin + 1, 100352, 1e7} {
		c := sumChunk(n)
		chunks := (n + c - 1) / c
		assert.LessOrEqual(t, chunks, maxSumChunks, fmt.Sprint(n))
		assert.Zero(t, c%lineFloats, fmt.Sprint(n))
		if n <= sumChunkMin {
			assert.Equal(t, 1, chunks, fmt.Sprint(n))
		}
	}
}

// nopJob is a job whose parts do nothing: what handing out parts and
// waiting for them costs.
type nopJob struct{}

func (nopJob) run(_, _ int, bar *barrier) { bar.wait() }

// BenchmarkForkJoin times a job of empty parts, with one barrier, on the
// team: the cost of splitting a kernel, paid some thirty times a training
// step.
func BenchmarkForkJoin(b *testing.B) {
	for _, parts := range []int{1, 2} {
		b.Run(fmt.Sprintf("impl=go/threads=%d", parts), func(b *testing.B) {
			parallel(nopJob{}, parts)
			b.ReportAllocs()
			for b.Loop() {
				parallel(nopJob{}, parts)
			}
		})
	}
}
