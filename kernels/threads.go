package kernels

import (
	"runtime"
	"sync/atomic"
)

var threads atomic.Int32

// SetThreads sets how many goroutines the parallel kernels may use; n < 1
// means GOMAXPROCS. Results do not depend on it.
func SetThreads(n int) {
	threads.Store(int32(max(n, 0)))
}

// Threads returns how many goroutines the parallel kernels may use.
func Threads() int {
	if n := int(threads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}
