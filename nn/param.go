package nn

import "fmt"

// Param is a named trainable tensor and its gradient. Value and Grad have
// the same length, the product of Shape. A Param may be a view into a larger
// layer (fastvae keeps the two encoder heads in one matrix but names them as
// two layers, as the PyTorch example does).
type Param struct {
	Name  string
	Shape []int
	Value []float32
	Grad  []float32
	// FanIn is the layer's input width, which sets the bound of the default
	// initialisation (±1/√FanIn) for both weight and bias.
	FanIn int
}

// NewParam returns a Param whose Value and Grad are views of value and grad,
// which must hold exactly the product of shape elements.
func NewParam(name string, shape []int, fanIn int, value, grad []float32) *Param {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(value) != n || len(grad) != n {
		panic(fmt.Sprintf("nn: NewParam %s: len(value)=%d len(grad)=%d, shape %v needs %d", name, len(value), len(grad), shape, n))
	}
	return &Param{Name: name, Shape: shape, Value: value, Grad: grad, FanIn: fanIn}
}
