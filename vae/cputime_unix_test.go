//go:build unix

package vae

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time this process has used, user and system,
// all threads: on a shared machine it measures a step's work where wall
// time also measures the neighbours.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
