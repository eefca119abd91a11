package nn

import (
	"fmt"

	"github.com/fastvae/fastvae/kernels"
)

// ReLU is the activation max(x, 0). Its backward pass needs only the output,
// so a layer may apply it in place and keep nothing else.
type ReLU struct{}

// Forward sets y = max(x, 0); y may be x.
func (ReLU) Forward(y, x []float32) { kernels.ReLU(y, x) }

// Backward sets dx = dy where the output y is positive, else 0; dx may be dy.
func (ReLU) Backward(dx, dy, y []float32) { kernels.ReLUBackward(dx, dy, y) }

// Sigmoid is the logistic function 1/(1+e^−x).
type Sigmoid struct{}

// Forward sets y = sigmoid(x); y may be x.
func (Sigmoid) Forward(y, x []float32) { kernels.Sigmoid(y, x) }

// Backward sets dx = dy·y·(1−y) from the output y; dx may be dy. It panics
// unless the lengths agree.
func (Sigmoid) Backward(dx, dy, y []float32) {
	if len(dx) != len(dy) || len(y) != len(dy) {
		panic(fmt.Sprintf("nn: Sigmoid.Backward: len(dx)=%d len(dy)=%d len(y)=%d differ", len(dx), len(dy), len(y)))
	}
	for i, g := range dy {
		s := y[i]
		dx[i] = float32(g*s) * (1 - s) // explicit rounding: no FMA, same bits everywhere
	}
}
