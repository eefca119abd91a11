package kernels

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// sentinel fills the guard elements around every output slice a test hands
// to a kernel; an assembly kernel that writes out of bounds overwrites it.
var sentinel = math.Float32frombits(0x7fc0beef) // a NaN no kernel produces

// guardPad is how many sentinel elements stand before and after an output.
const guardPad = 16

// guarded returns a slice of n elements starting off elements into a larger
// buffer (so its start is unaligned for off % 8 != 0), with sentinels
// in the guardPad+off elements before it and the guardPad elements after it.
// The returned check asserts that every sentinel survived.
func guarded(t *testing.T, n, off int) (s []float32, check func()) {
	t.Helper()
	buf := make([]float32, guardPad+off+n+guardPad)
	for i := range buf {
		buf[i] = sentinel
	}
	lo, hi := guardPad+off, guardPad+off+n
	s = buf[lo:hi:hi] // capacity n: an append cannot reach the guard either
	return s, func() {
		t.Helper()
		for i, v := range buf {
			if i >= lo && i < hi {
				continue
			}
			if math.Float32bits(v) != math.Float32bits(sentinel) {
				assert.Failf(t, "guard overwritten", "n=%d off=%d: buffer[%d] (output index %d) = %v", n, off, i, i-lo, v)
				return
			}
		}
	}
}

// readOnly returns a copy of vals, n elements starting off elements into a
// guarded buffer as guarded's, for an argument the kernel must only read.
// The returned check asserts that the guard bands survived and that every
// element still has the bits it was given (a kernel that uses an input as
// scratch space, or writes an output through it, fails).
func readOnly(t *testing.T, vals []float32, off int) (s []float32, check func()) {
	t.Helper()
	s, guards := guarded(t, len(vals), off)
	copy(s, vals)
	want := slices.Clone(vals)
	return s, func() {
		t.Helper()
		guards()
		for i, v := range s {
			if math.Float32bits(v) != math.Float32bits(want[i]) {
				assert.Failf(t, "read-only argument changed", "n=%d off=%d: [%d] = %v, was %v", len(s), off, i, v, want[i])
				return
			}
		}
	}
}

// guards collects the guarded arguments of kernel calls, so that one check
// covers them all.
type guards struct {
	t      *testing.T
	checks []func()
}

// out returns an output of n elements at off, as guarded does.
func (g *guards) out(n, off int) []float32 {
	g.t.Helper()
	s, check := guarded(g.t, n, off)
	g.checks = append(g.checks, check)
	return s
}

// inOut returns an argument the kernel reads and writes, holding a copy of
// vals, at off.
func (g *guards) inOut(vals []float32, off int) []float32 {
	g.t.Helper()
	s := g.out(len(vals), off)
	copy(s, vals)
	return s
}

// in returns a read-only argument holding a copy of vals, at off, as
// readOnly does.
func (g *guards) in(vals []float32, off int) []float32 {
	g.t.Helper()
	s, check := readOnly(g.t, vals, off)
	g.checks = append(g.checks, check)
	return s
}

// check runs every collected check.
func (g *guards) check() {
	g.t.Helper()
	for _, c := range g.checks {
		c()
	}
}

// ulpDiff returns the distance between got and the float64 reference want in
// units of the last place of float32 numbers near want, so the correctly
// rounded result scores at most 0.5.
// Equal infinities and two NaNs score 0; anything else against a NaN or an
// infinity scores +Inf.
func ulpDiff(got float32, want float64) float64 {
	switch {
	case math.IsNaN(want) || math.IsNaN(float64(got)):
		if math.IsNaN(want) && math.IsNaN(float64(got)) {
			return 0
		}
		return math.Inf(1)
	case math.IsInf(float64(got), 0) || math.IsInf(want, 0):
		if float64(got) == want {
			return 0
		}
		// A finite reference above MaxFloat32 rounds to +Inf; count Inf
		// against it as the step past MaxFloat32.
		want32 := float32(want)
		if float64(got) == float64(want32) {
			return 0.5
		}
		return math.Inf(1)
	}
	return math.Abs(float64(got)-want) / ulp32(want)
}

// ulp32 returns the spacing of float32 values at |x|: the distance from the
// float32 of magnitude at most |x| nearest |x| to the next one up, which is
// 2^-149 throughout the subnormal range.
func ulp32(x float64) float64 {
	x = math.Abs(x)
	if x < 0x1p-126 {
		return 0x1p-149
	}
	if x >= math.MaxFloat32 {
		return 0x1p104 // spacing of the largest binade
	}
	_, e := math.Frexp(x) // x = f·2^e, 0.5 ≤ f < 1
	return math.Ldexp(1, e-24)
}
