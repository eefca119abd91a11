package bench

// An fmaProbe is one width of the FMA peak probe (peak_amd64.s): run does
// iters iterations of register-only FMA chains, acc += x·x, and returns the
// sum of the accumulators' lanes and the number of float32 FMAs it did.
type fmaProbe struct {
	impl string // the kernel set of the same ISA, as BenchmarkSgemm names it
	run  func(iters int, x float32) (sum float32, fmas int)
}
