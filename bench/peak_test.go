package bench

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/fastvae/fastvae/internal/cputime"
	"github.com/stretchr/testify/assert"
)

// TestFMAPeak checks that each probe does the work it reports: with x = 1
// every FMA adds exactly 1 to its accumulator (all sums stay integers
// below 2^24, so exact), and with x = 0.5 a quarter.
func TestFMAPeak(t *testing.T) {
	probes := fmaProbes()
	if len(probes) == 0 {
		t.Skip("no FMA probe in this build or on this CPU")
	}
	for _, p := range probes {
		t.Run("impl="+p.impl, func(t *testing.T) {
			for _, iters := range []int{1, 7, 1000} {
				sum, fmas := p.run(iters, 1)
				assert.Equal(t, float32(fmas), sum, "iters=%d x=1", iters)
				assert.Zero(t, fmas%iters, "fmas is a whole number of FMAs per iteration")
				sum, _ = p.run(iters, 0.5)
				assert.Equal(t, float32(fmas)/4, sum, "iters=%d x=0.5", iters)
			}
			_, one := p.run(1, 1)
			lanes := map[string]int{"avx2": 8, "avx512": 16}[p.impl]
			assert.Zero(t, one%lanes, "whole registers of %d lanes", lanes)
		})
	}
}

// peakThreads are the thread counts of the probe: 1 and 2, those of
// BenchmarkSgemm and BenchmarkTrainStep, and every CPU.
func peakThreads() []int {
	threads := []int{1, 2}
	if n := runtime.NumCPU(); !slices.Contains(threads, n) {
		threads = append(threads, n)
	}
	return threads
}

// BenchmarkFMAPeak measures the float32 FMA rate of this CPU, the ceiling
// of every GFLOP/s figure here: register-only chains of VFMADD231PS on YMM
// (impl=avx2) and ZMM (impl=avx512), on 1 and 2 threads and on every CPU, in
// GFLOP/s (an FMA lane is two FLOPs). make bench-report and make bench-numpy
// state the Sgemm and TrainStep figures as a percentage of it.
func BenchmarkFMAPeak(b *testing.B) {
	probes := fmaProbes()
	if len(probes) == 0 {
		b.Skip("no FMA probe in this build or on this CPU")
	}
	for _, p := range probes {
		for _, threads := range peakThreads() {
			b.Run(fmt.Sprintf("impl=%s/threads=%d", p.impl, threads), func(b *testing.B) {
				benchPeak(b, p, threads)
			})
		}
	}
}

func benchPeak(b *testing.B, p fmaProbe, threads int) {
	// Some 2 ms per thread and op at 4 GHz: long enough that handing out
	// the work is noise, short enough for -benchtime 1x.
	const iters = 1 << 18
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(threads, runtime.GOMAXPROCS(0))))
	// Workers that live for the whole benchmark: an op allocates nothing
	// and starts no goroutine.
	start, done := make(chan struct{}, threads), make(chan int, threads)
	defer close(start)
	for range threads {
		go func() {
			for range start {
				_, fmas := p.run(iters, 1)
				done <- fmas
			}
		}()
	}
	op := func() (fmas int) {
		for range threads {
			start <- struct{}{}
		}
		for range threads {
			fmas += <-done
		}
		return fmas
	}
	op()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	total := 0
	for b.Loop() {
		total += op()
	}
	cpu := cputime.Process() - cpu0
	flops := 2 * float64(total)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}
