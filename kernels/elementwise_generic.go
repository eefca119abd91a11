package kernels

import "math"

// TODO(elementwise): replace with a float64 polynomial that is deterministic
// across architectures; math.Exp is assembly on some of them.
func expGeneric(dst, src []float32) {
	for i, x := range src {
		dst[i] = float32(math.Exp(float64(x)))
	}
}

func sigmoidGeneric(dst, src []float32) {
	for i, x := range src {
		dst[i] = float32(1 / (1 + math.Exp(-float64(x))))
	}
}

// reluGeneric lets NaN and -0 through unchanged, as the assembly's VMAXPS does.
func reluGeneric(dst, src []float32) {
	for i, x := range src {
		if x < 0 {
			x = 0
		}
		dst[i] = x
	}
}

func reluBackwardGeneric(dx, dy, y []float32) {
	for i, g := range dy {
		if y[i] > 0 {
			dx[i] = g
		} else {
			dx[i] = 0
		}
	}
}
