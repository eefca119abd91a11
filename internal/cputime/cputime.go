// Package cputime measures the CPU time the process has used. On a machine
// shared with other work, a rate per CPU second says what the code costs,
// where a rate per wall-clock second also counts the time it waited for a
// core.
package cputime

import "time"

// Process returns the CPU time, user and system, that every thread of the
// process has used so far, or 0 where the system cannot tell; a
// difference of two readings is then 0 too, which callers take as "not
// measured".
func Process() time.Duration { return process() }
