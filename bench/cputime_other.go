//go:build !unix

package bench

import "time"

// cpuTime is not measured here; BenchmarkSgemm then reports no CPU-time rate.
func cpuTime() time.Duration { return 0 }
