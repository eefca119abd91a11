package cputime

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestProcessCountsWork burns CPU for a while and checks that the clock
// moved forward by a plausible amount: at least a tenth of the wall time
// spent spinning (the machine may be shared), at most the wall time of every
// core.
func TestProcessCountsWork(t *testing.T) {
	if !measured {
		assert.Zero(t, Process(), "not measured here, so 0")
		return
	}
	start, wall := Process(), time.Now()
	x := 1.0
	for time.Since(wall) < 200*time.Millisecond {
		for range 1000 {
			x = x*1.0000001 + 1e-9
		}
	}
	used, elapsed := Process()-start, time.Since(wall)
	assert.NotZero(t, x)
	assert.GreaterOrEqual(t, used, elapsed/10, "CPU time %v for %v of spinning", used, elapsed)
	assert.LessOrEqual(t, used, elapsed*time.Duration(runtime.NumCPU())+50*time.Millisecond)
}
