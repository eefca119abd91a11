package kernels

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"text/tabwriter"
	"time"
)

var ratios = flag.Bool("fused.ratios", false, "measure the fused kernels' speed ratios (slow; prints a table)")

// TestFusedRatios measures what fusing buys, on a shared, noisy machine: for every case of fusedCases and every implementation it times
// the fused kernel, its unfused sequence and the copy reference in
// interleaved rounds and keeps each one's fastest round, which interference
// from other processes can only lengthen. It prints copy time / fused time
// (the fraction of copy bandwidth reached) and fused time / unfused time
// (what fusing saves). Opt-in: go test -run FusedRatios ./kernels
// -args -fused.ratios (add -test.v to see the table).
func TestFusedRatios(t *testing.T) {
	if !*ratios {
		t.Skip("enable with -fused.ratios")
	}
	prev := Impl()
	defer func() { _ = Use(prev) }()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "kernel\tsize\timpl\tfused\tcopy/fused\tfused/unfused")
	for _, k := range fusedCases {
		k.cases(func(size string, bytes int, fused, unfused func()) {
			src, dst := copyBuffers(bytes)
			cp := func() { copy(dst, src) }
			for _, impl := range Available() {
				if err := Use(impl); err != nil {
					t.Fatal(err)
				}
				best := fastest(fused, unfused, cp)
				fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%.2f\t%.3f\n", k.kernel, size, impl, best[0], best[2].Seconds()/best[0].Seconds(), best[0].Seconds()/best[1].Seconds())
			}
		})
	}
	w.Flush()
}

// fastest runs the functions in turn, round after round, for about a second
// of the slowest one's time and at least 5 rounds, and returns each one's
// fastest run. Functions faster than 50µs are timed over enough repetitions
// to reach it, so that the clock's resolution does not matter.
func fastest(fs ...func()) []time.Duration {
	reps := make([]int, len(fs))
	for i, f := range fs {
		t0 := time.Now()
		f()
		reps[i] = 1 + int(50*time.Microsecond/max(time.Since(t0), time.Nanosecond))
	}
	best := make([]time.Duration, len(fs))
	var spent time.Duration
	for round := 0; round < 5 || (spent < time.Second && round < 2000); round++ {
		for i, f := range fs {
			t0 := time.Now()
			for range reps[i] {
				f()
			}
			d := time.Since(t0)
			spent += d
			if d /= time.Duration(reps[i]); round == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	return best
}
