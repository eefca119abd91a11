//go:build amd64 && gc && !purego && !noasm

package bench

import "github.com/klauspost/cpuid/v2"

// fmaProbes returns the FMA peak probes this CPU runs, widest first.
func fmaProbes() []fmaProbe {
	var probes []fmaProbe
	if cpuid.CPU.Supports(cpuid.AVX512F) {
		probes = append(probes, fmaProbe{"avx512", fmaPeakAVX512})
	}
	if cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
		probes = append(probes, fmaProbe{"avx2", fmaPeakAVX2})
	}
	return probes
}
