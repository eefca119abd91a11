//go:build !amd64 || !gc || purego || noasm

package kernels

// archImplementations returns no assembly implementations: this build is
// pure Go.
func archImplementations() []implementation { return nil }
