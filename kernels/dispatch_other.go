//go:build !amd64 || !gc || purego || noasm

package kernels

// archImplementations returns no assembly implementations: this build is
// pure Go.
func archImplementations() []implementation { return nil }

// gemmEnvError is nil: FASTVAE_GEMM names tiles of the assembly, and this
// build has none.
func gemmEnvError(string) error { return nil }
