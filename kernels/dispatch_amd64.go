//go:build amd64 && gc && !purego && !noasm

package kernels

import (
	"os"
	"slices"

	"github.com/klauspost/cpuid/v2"
)

// gemmClass and gemmForced choose and narrow the SGEMM tiles of the
// assembly sets.
var (
	gemmClass  = cpuFMAClass()
	gemmForced = os.Getenv("FASTVAE_GEMM")
)

// avx2Kernels needs AVX2 and FMA3 with the OS saving YMM state (cpuid reports
// AVX and AVX2 only when XGETBV says the OS does).
var avx2Kernels = kernelSet{
	name:              "avx2",
	exp:               expAVX2,
	sigmoid:           sigmoidAVX2,
	relu:              reluAVX2,
	reluBackward:      reluBackwardAVX2,
	gemm:              gemmConfigs(gemmClass, gemmForced, "avx2"),
	reparamKL:         reparamKLAVX2,
	reparamKLBackward: reparamKLBackwardAVX2,
	bceWithLogits:     bceWithLogitsAVX2,
	squaredError:      squaredErrorAVX2,
	adamStep:          adamStepAVX2Hyper,
	addBias:           addBiasAVX2,
	sumRows:           sumRowsAcc,
}

// avx512Kernels is avx2Kernels with the kernels that have AVX-512F code
// swapped in. It needs AVX512F with the OS saving opmask and ZMM state (cpuid
// reports AVX512F only when XGETBV says the OS does) and, for the kernels it
// shares, everything avx2Kernels needs.
var avx512Kernels = func() kernelSet {
	ks := avx2Kernels
	ks.name = "avx512"
	ks.exp = expAVX512
	ks.sigmoid = sigmoidAVX512
	ks.gemm = gemmConfigs(gemmClass, gemmForced, "avx512", "avx2")
	ks.reparamKL = reparamKLAVX512
	ks.reparamKLBackward = reparamKLBackwardAVX512
	ks.bceWithLogits = bceWithLogitsAVX512
	return ks
}()

// Each set needs exactly the features its assembly's Requires lines name
// (TestRequiredFeatures checks it).
var (
	avx2Needs   = []cpuid.FeatureID{cpuid.AVX, cpuid.AVX2, cpuid.FMA3}
	avx512Needs = append(slices.Clone(avx2Needs), cpuid.AVX512F)
)

func archImplementations() []implementation {
	return []implementation{
		{kernelSet: &avx512Kernels, needs: avx512Needs, missing: missingFeatures(avx512Needs...)},
		{kernelSet: &avx2Kernels, needs: avx2Needs, missing: missingFeatures(avx2Needs...)},
	}
}

// missingFeatures names the features in want that this CPU (and its OS) lack.
func missingFeatures(want ...cpuid.FeatureID) []string {
	var missing []string
	for _, f := range want {
		if !cpuid.CPU.Supports(f) {
			missing = append(missing, f.String())
		}
	}
	return missing
}
