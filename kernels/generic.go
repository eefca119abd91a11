package kernels

// genericKernels is the portable implementation: the oracle of the tests and
// the code other architectures run.
var genericKernels = kernelSet{
	name:              "generic",
	exp:               expGeneric,
	sigmoid:           sigmoidGeneric,
	relu:              reluGeneric,
	reluBackward:      reluBackwardGeneric,
	gemm:              genericGemm,
	reparamKL:         reparamKLGeneric,
	reparamKLBackward: reparamKLBackwardGeneric,
	bceWithLogits:     bceWithLogitsGeneric,
	squaredError:      squaredErrorGeneric,
	adamStep:          adamStepGeneric,
	addBias:           addBiasGeneric,
	sumRows:           sumRowsGeneric,
}
