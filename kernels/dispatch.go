package kernels

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/klauspost/cpuid/v2"
)

// kernelSet is one implementation of every kernel. Exported functions check
// their arguments and then call through the active set.
type kernelSet struct {
	name string

	exp          func(dst, src []float32)
	sigmoid      func(dst, src []float32)
	relu         func(dst, src []float32)
	reluBackward func(dx, dy, y []float32)

	// gemm lists the SGEMM micro-kernels with their blocking; Sgemm picks
	// one per shape.
	gemm []*gemmConfig

	reparamKL         func(z, mu, logvar, eps []float32) float64
	reparamKLBackward func(dmu, dlogvar, dz, mu, logvar, eps []float32, beta float32)
	bceWithLogits     func(dlogits, logits, target []float32, scale float32) float64
	squaredError      func(dout, out, target []float32, scale float32) float64
	adamStep          func(param, grad, m, v []float32, h adamHyper)
	addBias           func(y, bias []float32)
	sumRows           func(dst, src []float32, ld, rows int) // rows rows of src, ld apart
}

// implementation is a kernel set together with what this CPU lacks to run it.
type implementation struct {
	*kernelSet
	needs   []cpuid.FeatureID // the CPU features it uses
	missing []string          // those of needs absent here (or without OS support); empty when usable
}

var (
	// implementations lists every implementation compiled in, best first;
	// generic is always last and always usable.
	implementations = append(archImplementations(), implementation{kernelSet: &genericKernels})

	active   atomic.Pointer[kernelSet]
	envError error
)

func init() {
	envError = errors.Join(useFromEnv(os.Getenv("FASTVAE_KERNELS")), gemmEnvError(os.Getenv("FASTVAE_GEMM")))
}

// useFromEnv selects the implementation named by the FASTVAE_KERNELS value v,
// or the best available one when v is empty, unknown or unusable here.
func useFromEnv(v string) error {
	active.Store(best())
	if v == "" {
		return nil
	}
	if err := Use(v); err != nil {
		return fmt.Errorf("FASTVAE_KERNELS=%s ignored, using %s: %w", v, Impl(), err)
	}
	return nil
}

func best() *kernelSet {
	for _, im := range implementations {
		if len(im.missing) == 0 {
			return im.kernelSet
		}
	}
	panic("unreachable: generic is always usable")
}

// kernels returns the active kernel set.
func kernels() *kernelSet { return active.Load() }

// Impl returns the name of the implementation in use: "avx512", "avx2" or
// "generic".
func Impl() string { return kernels().name }

// Available returns the implementations this CPU can run, best first. The
// last is always "generic".
func Available() []string {
	var names []string
	for _, im := range implementations {
		if len(im.missing) == 0 {
			names = append(names, im.name)
		}
	}
	return names
}

// Use switches every kernel to the named implementation. It returns an error,
// and changes nothing, when the name is unknown or this CPU lacks features the
// implementation needs. Use is meant for start-up, tests and benchmarks: it
// must not race with kernels running in other goroutines if their results are
// to come from one implementation.
func Use(name string) error {
	var known []string
	for _, im := range implementations {
		if im.name != name {
			known = append(known, im.name)
			continue
		}
		if len(im.missing) > 0 {
			return fmt.Errorf("kernels: %s needs %s, which this CPU or OS does not provide", name, strings.Join(im.missing, ", "))
		}
		active.Store(im.kernelSet)
		return nil
	}
	return fmt.Errorf("kernels: unknown implementation %q (compiled in: %s)", name, strings.Join(known, ", "))
}

// EnvError reports why the FASTVAE_KERNELS environment variable (an
// implementation) or FASTVAE_GEMM (one SGEMM tile, such as 12x32, for
// experiments) was ignored at start-up, or nil when they were honoured or
// unset. The library never prints;
// programs may show this to the user.
func EnvError() error { return envError }
