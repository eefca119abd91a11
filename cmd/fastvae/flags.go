package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/fastvae/fastvae/kernels"
)

// cpuFlags choose the kernels and the number of threads a command runs on.
type cpuFlags struct {
	threads int
	kernels string
}

func (c *cpuFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&c.threads, "threads", 0, "threads to use (0: all cores)")
	fs.StringVar(&c.kernels, "kernels", "", "kernel `implementation`: avx512, avx2 or generic (default: the best this CPU runs)")
}

// apply checks the flags and applies them (and reports an ignored
// FASTVAE_KERNELS); restore undoes it, for in-process callers.
func (c *cpuFlags) apply(stderr io.Writer) (restore func(), err error) {
	if err := atLeast("threads", c.threads, 0); err != nil {
		return nil, err
	}
	if e := kernels.EnvError(); e != nil {
		fmt.Fprintf(stderr, "fastvae: note: %v\n", e)
	}
	prev := kernels.Impl()
	if c.kernels != "" {
		if err := kernels.Use(c.kernels); err != nil {
			return nil, usagef("--kernels %s: %s", c.kernels, strings.TrimPrefix(err.Error(), "kernels: "))
		}
	}
	procs := runtime.GOMAXPROCS(0)
	if c.threads > 0 {
		kernels.SetThreads(c.threads)
		runtime.GOMAXPROCS(c.threads)
	}
	return func() {
		kernels.Use(prev)
		kernels.SetThreads(0)
		runtime.GOMAXPROCS(procs)
	}, nil
}

// explicit returns the names of the flags given on the command line.
func explicit(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// atLeast fails unless v >= lo.
func atLeast(name string, v, lo int) error {
	if v < lo {
		return usagef("--%s %d: must be at least %d", name, v, lo)
	}
	return nil
}

// positiveFinite fails unless v is a positive finite number.
func positiveFinite(name string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return usagef("--%s %v: must be a positive finite number", name, v)
	}
	return nil
}

// parseHidden parses --hidden, a comma-separated list of layer widths.
func parseHidden(s string) ([]int, error) {
	var hs []int
	for _, f := range strings.Split(s, ",") {
		h, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || h < 1 {
			return nil, usagef("--hidden %q: %q is not a positive whole number (want widths like 400 or 512,256)", s, f)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// count says how many of unit: "1 epoch", "3 epochs".
func count(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// checkMode fails unless v is one of modes.
func checkMode(name, v string, modes ...string) error {
	for _, m := range modes {
		if v == m {
			return nil
		}
	}
	return usagef("--%s %q: want %s", name, v, strings.Join(modes, ", "))
}

// mismatch is the error for a flag that disagrees with a checkpoint.
func mismatch(path, flag string, given, saved any) error {
	return fmt.Errorf("--%s %v disagrees with checkpoint %s, which was trained with --%s %v", flag, given, path, flag, saved)
}
