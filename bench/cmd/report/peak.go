package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// peakBench is the benchmark that measures the FMA peak (bench/peak_test.go).
const peakBench = "FMAPeak"

// trainStepFLOPs is the work of one image in a training step of the
// default 784-400-20 model: two FLOPs per multiply-add, 651,200 of them
// forward, 651,200 for the weight gradients and 337,600 for the input
// gradients (0.42 GFLOP per step of 128 images).
const trainStepFLOPs = 3.28e6

// peaks holds the medians of BenchmarkFMAPeak's GFLOP/s by implementation
// (the ISA of the probe) and thread count.
type peaks map[string]map[int]float64

// findPeaks returns the run's FMA peaks, or nil when it has none.
func findPeaks(r *run) peaks {
	for _, x := range r.benches {
		if x.name != peakBench || !x.has("GFLOP/s") {
			continue
		}
		p := peaks{}
		for key, cell := range x.cells {
			t, ok := threadsOf(x, key.row)
			if v := cell["GFLOP/s"]; ok && len(v) > 0 {
				if p[key.col.impl] == nil {
					p[key.col.impl] = map[int]float64{}
				}
				p[key.col.impl][t] = median(v)
			}
		}
		return p
	}
	return nil
}

// threadsOf is the row's threads= value; rows of a benchmark without the
// key ran on one thread.
func threadsOf(x *bench, row string) (int, bool) {
	i := slices.Index(x.keys, "threads")
	if i < 0 {
		return 1, true
	}
	t, err := strconv.Atoi(x.rowValues(row)[i])
	return t, err == nil
}

// best is the impl of the fastest probe at one thread.
func (p peaks) best() string {
	best := ""
	for impl, byThreads := range p {
		if best == "" || byThreads[1] > p[best][1] || byThreads[1] == p[best][1] && impl < best {
			best = impl
		}
	}
	return best
}

// of returns the peak column c is read against at threads: the probe of
// its own ISA for fastvae's vector implementations, the fastest probe for
// the others (generic, and the peers, whatever kernels they picked).
func (p peaks) of(c column, threads int) (float64, bool) {
	impl := c.impl
	if _, ok := p[impl]; !ok || c.peer() {
		impl = p.best()
	}
	v, ok := p[impl][threads]
	return v, ok && v > 0
}

// flopRate returns the factor that turns x's main metric into GFLOP/s,
// for the benchmarks whose figures are read against the peak.
func flopRate(x *bench) (float64, bool) {
	switch {
	case x.name == peakBench:
		return 0, false
	case x.metric() == "GFLOP/s":
		return 1, true
	case x.name == "TrainStep" && x.metric() == "images/s":
		return trainStepFLOPs / 1e9, true
	}
	return 0, false
}

// writePeakTable writes x's figures as a percentage of the FMA peak of the
// same run, at the same thread count; a benchmark in images/s gets its
// GFLOP/s beside the percentage.
func writePeakTable(b *strings.Builder, x *bench, p peaks) {
	scale, ok := flopRate(x)
	if !ok || len(p) == 0 {
		return
	}
	cols := append(x.ours(), x.peers()...)
	var ths []int
	for _, row := range x.rows {
		if t, ok := threadsOf(x, row); ok && !slices.Contains(ths, t) {
			ths = append(ths, t)
		}
	}
	slices.Sort(ths)
	var measured []string
	for _, t := range ths {
		var each []string
		for _, impl := range sortedImpls(p) {
			if v, ok := p[impl][t]; ok {
				each = append(each, fmt.Sprintf("%s %s", impl, sig3(v)))
			}
		}
		if len(each) > 0 {
			measured = append(measured, fmt.Sprintf("threads=%d: %s", t, strings.Join(each, ", ")))
		}
	}
	if scale == 1 {
		fmt.Fprintf(b, "\n### %s, %% of the FMA peak\n\n", x.name)
		fmt.Fprintf(b, "`%s`, each GFLOP/s median above as a percentage of", x.pkg)
	} else {
		fmt.Fprintf(b, "\n### %s, GFLOP/s and %% of the FMA peak\n\n", x.name)
		fmt.Fprintf(b, "`%s`, images/s × %.3g MFLOP per image (the default 784-400-20 model: forward, weight and input gradients) in GFLOP/s, and as a percentage of", x.pkg, trainStepFLOPs/1e6)
	}
	fmt.Fprintf(b, " the median GFLOP/s of %s at the same thread count in this run (%s): ", peakBench, strings.Join(measured, "; "))
	fmt.Fprintf(b, "fastvae's vector implementations against the probe of their own ISA, the others against the fastest (%s).\n\n", p.best())

	head := append(slices.Clone(x.keys), names(cols)...)
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range x.keys {
		b.WriteString(" --- |")
	}
	for range cols {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	for _, row := range x.rows {
		cells := x.rowValues(row)
		t, tok := threadsOf(x, row)
		for _, c := range cols {
			v := x.cells[cellKey{row, c}][x.metric()]
			peak, pok := p.of(c, t)
			if len(v) == 0 || !tok || !pok {
				cells = append(cells, "–")
				continue
			}
			gflops := median(v) * scale
			cell := percent(gflops / peak)
			if scale != 1 {
				cell = sig3(gflops) + " (" + cell + ")"
			}
			cells = append(cells, cell)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
}

func sortedImpls(p peaks) []string {
	var out []string
	for impl := range p {
		out = append(out, impl)
	}
	// The fastest first, as the probe's own table lists them.
	slices.SortFunc(out, func(a, b string) int {
		if d := p[b][1] - p[a][1]; d != 0 {
			return int(math.Copysign(1, d))
		}
		return strings.Compare(a, b)
	})
	return out
}

// percent shows a fraction as a percentage with about two significant
// digits, more below 10%, so that a small share does not read as zero.
func percent(f float64) string {
	switch v := f * 100; {
	case v >= 10:
		return fmt.Sprintf("%.0f%%", v)
	case v >= 1:
		return fmt.Sprintf("%.1f%%", v)
	default:
		return fmt.Sprintf("%.2g%%", v)
	}
}

func names(cols []column) []string {
	var out []string
	for _, c := range cols {
		out = append(out, c.String())
	}
	return out
}
