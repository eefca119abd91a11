package kernels

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TODO(elementwise): ULP sweeps, guard bands, offsets, aliasing.
func TestReLU(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		for n := 0; n < 40; n++ {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(i) - 20
			}
			if n > 3 {
				src[3] = float32(math.NaN())
			}
			dst := make([]float32, n)
			ReLU(dst, src)
			want := make([]float32, n)
			reluGeneric(want, src)
			for i := range dst {
				assert.Equal(t, math.Float32bits(want[i]), math.Float32bits(dst[i]), "n=%d i=%d", n, i)
			}
		}
	})
}
