//go:build !amd64 || !gc || purego || noasm

package bench

// fmaProbes returns no probe: the probe is amd64 assembly.
func fmaProbes() []fmaProbe { return nil }
