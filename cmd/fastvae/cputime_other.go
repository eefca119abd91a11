//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "time"

// cpuTime returns a negative value: the process's CPU time is not measured
// on this system.
func cpuTime() time.Duration { return -1 }
