// Command report renders a results file of make bench as bench/README.md:
// a table per benchmark (per implementation and thread count, with the
// peers of the same run beside it as ratios) and a PNG chart of the GEMM
// benchmark's GFLOP/s by shape.
//
// Usage:
//
//	go run ./cmd/report [-o README.md] [-chart sgemm.png] [-source NAME] RESULTS
//	go run ./cmd/report -check RESULTS
//
// make bench-report runs it from bench/ on the newest results file (or
// IN=file). The README names the file it came from (-source, by default the
// path as given) and states the run's date, commit, CPU, Go version and
// count from the file's configuration lines. With -check it only verifies
// that every benchmark is named in key=value form with an impl= key, so that
// benchstat can split by it (make bench-smoke runs it on every benchmark).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	out := flag.String("o", "README.md", "the Markdown file to write")
	chart := flag.String("chart", "sgemm.png", "the PNG chart of Sgemm to write, beside -o (empty: none)")
	source := flag.String("source", "", "the results file's name as the README states it (default: the argument)")
	check := flag.Bool("check", false, "only check that every benchmark name is key=value parts with an impl= (make bench-smoke)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: report [-o README.md] [-chart sgemm.png] [-source NAME] RESULTS\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if *check {
		if err := checkNames(flag.Arg(0)); err != nil {
			fmt.Fprintf(os.Stderr, "report: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *source == "" {
		*source = flag.Arg(0)
	}
	if err := render(flag.Arg(0), *source, *out, *chart); err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(1)
	}
}

// checkNames fails when a benchmark in the results file in is not named
// in the house form, listing every such name.
func checkNames(in string) error {
	r, err := readRunFile(in)
	if err != nil {
		return err
	}
	if len(r.badNames) > 0 {
		return fmt.Errorf("%s: %d benchmark names not in key=value form with impl=:\n\t%s",
			in, len(r.badNames), strings.Join(r.badNames, "\n\t"))
	}
	return nil
}

// readRunFile reads the results file in.
func readRunFile(in string) (*run, error) {
	b, err := os.ReadFile(in)
	if err != nil {
		return nil, err
	}
	r, err := readRun(bytes.NewReader(b), in)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", in, err)
	}
	return r, nil
}

// render reads the results file in and writes the README to out and, when
// the run has an Sgemm benchmark with GFLOP/s, the chart beside it.
func render(in, source, out, chart string) error {
	r, err := readRunFile(in)
	if err != nil {
		return err
	}
	link := ""
	if chart != "" {
		for _, x := range r.benches {
			if x.name != "Sgemm" || x.metric() != "GFLOP/s" {
				continue
			}
			if err := writeChart(filepath.Join(filepath.Dir(out), chart), x); err != nil {
				return fmt.Errorf("chart: %w", err)
			}
			link = chart
			break
		}
	}
	var md bytes.Buffer
	if err := writeMarkdown(&md, r, source, link); err != nil {
		return err
	}
	return os.WriteFile(out, md.Bytes(), 0o644)
}
