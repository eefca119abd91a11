// Command paritycheck runs a short deterministic workload on the kernels and
// prints a checksum of its result, for make parity (scripts/parity.sh) to
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
	"encoding/binary"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/fastvae/fastvae/kernels"
	"github.com/klauspost/cpuid/v2"
)

// tolerance bounds |x − generic| / (1 + |generic|) elementwise between
// implementations: they may differ by rounding (FMA, other exp polynomials,
// summation order), which 20 steps amplify only mildly.
const tolerance = 1e-4

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
		fmt.Printf("impl=%s checksum=%s features=%s\n", kernels.Impl(), checksum(workload()), features())
		return nil
	}
	names := kernels.Available()
	results := make(map[string][]float32)
	for _, name := range names {
		if err := kernels.Use(name); err != nil {
			return err
		}
		results[name] = workload()
		fmt.Printf("impl=%s checksum=%s features=%s\n", name, checksum(results[name]), features())
	}
	worst, worstName := 0.0, "generic"
	for _, name := range names {
		if d := maxRelDiff(results[name], results["generic"]); d > worst {
			worst, worstName = d, name
		}
	}
	fmt.Printf("maxdiff=%.1g tolerance=%.0e\n", worst, tolerance)
	if worst > tolerance {
		return fmt.Errorf("%s differs from generic by %.3g > %g", worstName, worst, tolerance)
	}
	return nil
}

// workload runs a fixed chain of kernel calls on seeded data, feeding each
// step's output into the next, and returns the final state. The odd sizes
// reach the vector code's tails.
func workload() []float32 {
	const m, n, k, steps = 33, 17, 29, 20
	r := rand.New(rand.NewPCG(1, 2))
	x := uniform(r, m*k, 1)
	w := uniform(r, k*n, 0.3)
	bias := uniform(r, n, 0.1)
	h := make([]float32, m*n)
	e := make([]float32, m*n)
	g := make([]float32, k*n)
	mom := make([]float32, k*n)
	vel := make([]float32, k*n)
	for step := 1; step <= steps; step++ {
		kernels.Sgemm(false, false, m, n, k, 1, x, k, w, n, 0, h, n)
		kernels.AddBias(h, bias)
		kernels.ReLU(h, h)
		kernels.Exp(e, h)
		kernels.Sigmoid(h, e)
		kernels.Sgemm(true, false, k, n, m, 1.0/m, x, k, h, n, 0, g, n)
		kernels.AdamStep(w, g, mom, vel, 1e-2, 0.9, 0.999, 1e-8, step)
	}
	return w
}

func uniform(r *rand.Rand, n int, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = scale * (2*r.Float32() - 1)
	}
	return s
}

// checksum is the FNV-1a hash of the values' bits: equal checksums mean
// bit-identical results.
func checksum(s []float32) string {
	buf := make([]byte, 0, 4*len(s))
	for _, v := range s {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	h := fnv.New64a()
	h.Write(buf)
	return fmt.Sprintf("%016x", h.Sum64())
}

func maxRelDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		if math.IsNaN(x) != math.IsNaN(y) {
			return math.Inf(1)
		}
		d = max(d, math.Abs(x-y)/(1+math.Abs(y)))
	}
	return d
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
