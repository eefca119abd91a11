package kernels_test

import (
	"fmt"
	"math"

	"github.com/fastvae/fastvae/kernels"
)

// ExampleSgemm computes C = A·B for a 2×3 A and a 3×2 B, row-major, then
// C = Aᵀ·A + C with A read transposed in place.
func ExampleSgemm() {
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		1, 0,
		0, 1,
		1, 1,
	}
	c := make([]float32, 2*2)
	kernels.Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)

	d := make([]float32, 3*3) // Aᵀ·A is 3×3
	kernels.Sgemm(true, false, 3, 3, 2, 1, a, 3, a, 3, 0, d, 3)
	fmt.Println(d)
	// Output:
	// [4 5 10 11]
	// [17 22 27 22 29 36 27 36 45]
}

// ExampleExp applies e^x elementwise, with IEEE special values.
func ExampleExp() {
	src := []float32{0, 1, -1, 100, float32(math.Inf(-1))}
	dst := make([]float32, len(src))
	kernels.Exp(dst, src)
	fmt.Printf("%.6g\n", dst)
	// Output:
	// [1 2.71828 0.367879 +Inf 0]
}
