// Package impltest holds what the tests of kernels, nn and vae (and the
// parity check) share: a subtest per kernel implementation, and comparison
// of float32 results by their bits or their relative distance.
package impltest

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Set is package kernels' dispatch: its Available, Impl and Use, and its
// Threads and SetThreads. (This package does not import kernels, so that
// kernels' own tests can use it.)
type Set struct {
	Available  func() []string
	Impl       func() string
	Use        func(name string) error
	Threads    func() int
	SetThreads func(n int)
}

// Keep returns a function that makes the implementation and the thread
// count in effect now active again, for benchmarks that set their own:
// defer impls.Keep()().
func (s Set) Keep() (restore func()) {
	impl, threads := s.Impl(), s.Threads()
	return func() {
		_ = s.Use(impl)
		s.SetThreads(threads)
	}
}

// Each runs f once per implementation this CPU can run, as a subtest named
// after it, with that implementation active; then it makes the one that was
// active before active again.
func (s Set) Each(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	prev := s.Impl()
	defer func() { require.NoError(t, s.Use(prev)) }()
	for _, name := range s.Available() {
		require.NoError(t, s.Use(name))
		t.Run(name, f)
	}
}

// Bits returns the bit patterns of s, for comparisons that tell −0 from +0
// and one NaN from another.
func Bits(s []float32) []uint32 {
	b := make([]uint32, len(s))
	for i, v := range s {
		b[i] = math.Float32bits(v)
	}
	return b
}

// BitsEqual asserts that got has want's bits, element for element, and
// reports the first difference only.
func BitsEqual(t *testing.T, want, got []float32, msg string, args ...any) bool {
	t.Helper()
	if !assert.Len(t, got, len(want), fmt.Sprintf(msg, args...)) {
		return false
	}
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			assert.Failf(t, "bits differ", "%s: element %d: %v, want %v", fmt.Sprintf(msg, args...), i, got[i], want[i])
			return false
		}
	}
	return true
}

// RelDiff returns ‖a − b‖₂ / ‖b‖₂, the distance of a from the reference b
// relative to b's size: 0 when they are equal (b zero included), NaN when
// either holds a NaN.
func RelDiff(a, b []float32) float64 {
	var diff, norm float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		diff += d * d
		norm += float64(b[i]) * float64(b[i])
	}
	if diff == 0 {
		return 0
	}
	return math.Sqrt(diff / norm)
}

// Hash returns the FNV-1a hash of the bits of the slices' elements, as
// little-endian bytes, one slice after another: golden values of results
// that must keep their bits on every architecture.
func Hash(s ...[]float32) uint64 {
	h := fnv.New64a()
	for _, t := range s {
		buf := make([]byte, 0, 4*len(t))
		for _, v := range t {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	return h.Sum64()
}
