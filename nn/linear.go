package nn

import (
	"fmt"

	"github.com/fastvae/fastvae/kernels"
)

// Linear is a fully connected layer y = x·Wᵀ + b with W stored [Out, In]
// row-major and b [Out], the layout of PyTorch's nn.Linear, so its weights
// move between the two without transposing.
type Linear struct {
	In, Out int
	W, B    []float32 // parameters: W [Out·In], B [Out]
	DW, DB  []float32 // gradients, overwritten by Backward
}

// NewLinear returns a zeroed in→out layer; call [InitUniform] on its Params
// (or load weights) before use.
func NewLinear(in, out int) *Linear {
	return &Linear{
		In: in, Out: out,
		W: make([]float32, out*in), B: make([]float32, out),
		DW: make([]float32, out*in), DB: make([]float32, out),
	}
}

// Params returns the layer's weight and bias as Params named
// prefix+".weight" ([Out, In]) and prefix+".bias" ([Out]), viewing the
// layer's storage.
func (l *Linear) Params(prefix string) []*Param {
	return []*Param{
		NewParam(prefix+".weight", []int{l.Out, l.In}, l.In, l.W, l.DW),
		NewParam(prefix+".bias", []int{l.Out}, l.In, l.B, l.DB),
	}
}

// Forward sets y = x·Wᵀ + b for a batch of rows: x is [n, In] and y [n, Out]
// with n = len(x)/In. It panics when the lengths do not describe one batch.
func (l *Linear) Forward(y, x []float32) {
	n := l.rows("Forward", x, y)
	kernels.Sgemm(false, true, n, l.Out, l.In, 1, x, l.In, l.W, l.In, 0, y, l.Out)
	kernels.AddBias(y, l.B)
}

// Backward sets the gradients DW = dyᵀ·x and DB = Σ rows of dy, and, unless
// dx is nil, dx = dy·W, the gradient with respect to the input. dy is
// [n, Out], x the [n, In] input given to Forward, dx [n, In]. It overwrites
// rather than accumulates, so no zeroing is needed between steps.
func (l *Linear) Backward(dx, dy, x []float32) {
	n := l.rows("Backward", x, dy)
	kernels.Sgemm(true, false, l.Out, l.In, n, 1, dy, l.Out, x, l.In, 0, l.DW, l.In)
	kernels.SumRows(l.DB, dy)
	if dx != nil {
		l.checkDx("Backward", dx, x)
		l.InputGradient(dx, dy)
	}
}

// BackwardUpdate is Backward followed by opt's current update (see
// Adam.Begin) of the layer's weight and bias, Params w and b of opt, while
// their gradients are still in cache; dx is computed from the weights as
// they were.
func (l *Linear) BackwardUpdate(dx, dy, x []float32, opt *Adam, w, b int) {
	l.Backward(dx, dy, x)
	opt.Update(w)
	opt.Update(b)
}

// InputGradient sets dx = dy·W, the gradient with respect to the layer's
// input: dy is [n, Out], dx [n, In].
func (l *Linear) InputGradient(dx, dy []float32) {
	n := l.rows("InputGradient", dx, dy)
	kernels.Sgemm(false, false, n, l.In, l.Out, 1, dy, l.Out, l.W, l.In, 0, dx, l.In)
}

func (l *Linear) checkDx(op string, dx, x []float32) {
	if len(dx) != len(x) {
		panic(fmt.Sprintf("nn: Linear.%s: len(dx)=%d != len(x)=%d", op, len(dx), len(x)))
	}
}

// rows returns the batch size n that x [n, In] and y [n, Out] describe.
func (l *Linear) rows(op string, x, y []float32) int {
	if l.In == 0 || len(x)%l.In != 0 {
		panic(fmt.Sprintf("nn: Linear.%s: len(x)=%d is not a multiple of In=%d", op, len(x), l.In))
	}
	n := len(x) / l.In
	if len(y) != n*l.Out {
		panic(fmt.Sprintf("nn: Linear.%s: len(y)=%d, want %d rows × Out=%d", op, len(y), n, l.Out))
	}
	return n
}
