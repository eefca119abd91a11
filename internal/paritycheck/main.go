// Command paritycheck trains a tiny VAE for 20 steps from a fixed seed and
// prints a checksum of its weights, for make parity (scripts/parity.sh) to
// compare across CPU models, architectures and builds.
//
// By default it runs once, with the implementation chosen at start-up, and
// prints one line:
//
//	impl=avx2 checksum=5c1e0a7d9b3f2e41 features=AVX,AVX2,FMA3,OSXSAVE
//
// features lists which of the CPU features dispatch depends on cpuid reports,
// so the matrix can check that each emulated CPU model is what it claims.
// With -all it runs once per available implementation, prints one such line
// for each, then the largest difference from generic's result, and fails when
// it exceeds the tolerance.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/fastvae/fastvae/internal/impltest"
	"github.com/fastvae/fastvae/kernels"
	"github.com/fastvae/fastvae/vae"
	"github.com/klauspost/cpuid/v2"
)

// tolerance bounds ‖w − w_generic‖₂ / ‖w_generic‖₂ for every parameter
// tensor w after the run. It is the vae package's stated agreement between
// implementations (TestDeterminism: 1e-3 after 50 steps): they round
// differently (FMA, their own exp, summation order) by about 1e-6 relative
// per step, which Adam's normalised steps carry forward.
const tolerance = 1e-3

func main() {
	all := flag.Bool("all", false, "run with every available implementation and compare each with generic")
	flag.Parse()
	if err := run(*all); err != nil {
		fmt.Fprintln(os.Stderr, "paritycheck:", err)
		os.Exit(1)
	}
}

func run(all bool) error {
	// A FASTVAE_KERNELS value that was not honoured would make the run
	// check something other than what the matrix asked for.
	if err := kernels.EnvError(); err != nil {
		return err
	}
	if !all {
		w, err := workload()
		if err != nil {
			return err
		}
		fmt.Printf("impl=%s checksum=%s features=%s\n", kernels.Impl(), checksum(w), features())
		return nil
	}
	names := kernels.Available()
	results := make(map[string][][]float32)
	for _, name := range names {
		if err := kernels.Use(name); err != nil {
			return err
		}
		w, err := workload()
		if err != nil {
			return err
		}
		results[name] = w
		fmt.Printf("impl=%s checksum=%s features=%s\n", name, checksum(results[name]), features())
	}
	worst, worstName := 0.0, "generic"
	for _, name := range names {
		if d := maxRelDiff(results[name], results["generic"]); d > worst || math.IsNaN(d) {
			worst, worstName = d, name
		}
	}
	fmt.Printf("maxdiff=%.1g tolerance=%.0e\n", worst, tolerance)
	if !(worst <= tolerance) {
		return fmt.Errorf("%s differs from generic by %.3g > %g", worstName, worst, tolerance)
	}
	return nil
}

// workload trains a tiny VAE (odd widths, so that the vector code's tails
// run) for 20 steps on seeded data and returns its final parameter tensors.
func workload() ([][]float32, error) {
	cfg := vae.Config{Input: 37, Hidden: []int{19}, Latent: 5, Decoder: vae.Bernoulli, Beta: 1}
	const batch, steps, seed = 11, 20, 1
	m, err := vae.New(cfg, seed)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0))
	x := make([]float32, batch*cfg.Input)
	for range steps {
		for i := range x {
			x[i] = r.Float32()
		}
		m.TrainStep(x)
	}
	var w [][]float32
	for _, p := range m.Params() {
		w = append(w, p.Value)
	}
	return w, nil
}

// checksum is the hash of the tensors' bits (impltest.Hash): equal
// checksums mean bit-identical results.
func checksum(w [][]float32) string {
	return fmt.Sprintf("%016x", impltest.Hash(w...))
}

// maxRelDiff returns the largest relative distance (impltest.RelDiff)
// between corresponding tensors; NaN anywhere makes it NaN.
func maxRelDiff(a, b [][]float32) float64 {
	worst := 0.0
	for i := range a {
		r := impltest.RelDiff(a[i], b[i])
		if math.IsNaN(r) {
			return r
		}
		worst = max(worst, r)
	}
	return worst
}

// features lists which of the CPU features dispatch looks at cpuid reports.
func features() string {
	var have []string
	for _, f := range []cpuid.FeatureID{cpuid.AVX, cpuid.AVX2, cpuid.FMA3, cpuid.OSXSAVE, cpuid.AVX512F} {
		if cpuid.CPU.Supports(f) {
			have = append(have, f.String())
		}
	}
	if len(have) == 0 {
		return "-"
	}
	return strings.Join(have, ",")
}
