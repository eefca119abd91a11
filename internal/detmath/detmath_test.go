package detmath

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLog bounds Log's error against math.Log by 2 ULP over the range the
// polar method uses and beyond.
func TestLog(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	xs := []float64{1, 2, 0.5, math.Sqrt2, math.Sqrt2 / 2, math.SmallestNonzeroFloat64 * (1 << 52), 1e-300, 0.999999, 1.000001, 1e300, math.MaxFloat64}
	for range 100000 {
		xs = append(xs, r.Float64(), math.Ldexp(r.Float64()+0.5, r.IntN(2000)-1000))
	}
	for _, x := range xs {
		got, want := Log(x), math.Log(x)
		if want == 0 {
			assert.Zero(t, got, "Log(%v)", x)
			continue
		}
		ulp := math.Abs(math.Nextafter(want, math.Inf(1)) - want)
		require.LessOrEqual(t, math.Abs(got-want), 2*ulp, "Log(%v) = %v, math.Log = %v", x, got, want)
	}
}
