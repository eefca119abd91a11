// Package kernels is fastvae's float32 numeric core: SGEMM, elementwise
// activations, and the fused kernels of a VAE training step.
//
// Every kernel has a portable Go implementation ("generic") and, on amd64,
// avo-generated assembly ("avx2", and "avx512" where it pays). The best
// implementation this CPU can run is chosen once at start-up; the environment
// variable FASTVAE_KERNELS or [Use] picks another. Build with the tag purego
// or noasm to leave all assembly out.
//
// Kernels check their slice lengths once, in Go, and panic in the style of
// the Go runtime when they do not fit; the assembly then trusts them and never
// touches memory outside the slices it was given.
package kernels
