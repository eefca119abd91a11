//go:build amd64 && gc && !purego && !noasm

package kernels

import "github.com/klauspost/cpuid/v2"

// avx2Kernels needs AVX2 and FMA3 with the OS saving YMM state (cpuid reports
// AVX and AVX2 only when XGETBV says the OS does).
var avx2Kernels = kernelSet{
	name:              "avx2",
	exp:               expAVX2,
	sigmoid:           sigmoidAVX2,
	relu:              reluAVX2,
	reluBackward:      reluBackwardAVX2,
	sgemm:             sgemmGeneric,
	reparamKL:         reparamKLGeneric,
	reparamKLBackward: reparamKLBackwardGeneric,
	bceWithLogits:     bceWithLogitsGeneric,
	squaredError:      squaredErrorGeneric,
	adamStep:          adamStepGeneric,
	addBias:           addBiasGeneric,
	sumRows:           sumRowsGeneric,
}

func archImplementations() []implementation {
	return []implementation{
		{kernelSet: &avx2Kernels, missing: missingFeatures(cpuid.AVX, cpuid.AVX2, cpuid.FMA3)},
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
