package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/nn"
)

func setupSample(fs *flag.FlagSet) action {
	f := &modelFlags{}
	f.register(fs)
	out := fs.String("out", "", "`file` to write (default sample.png, or sample.csv, sample.npy)")
	format := fs.String("format", "", "png (a grid of images), csv (one sample per line) or npy (default png for images, csv for other data)")
	n := fs.Int("n", 64, "number of samples")
	perRow := fs.Int("per-row", 8, "samples per row of the grid")
	seed := fs.Uint64("seed", 1, "random seed of z")
	size := fs.String("size", "", "image `ROWSxCOLS` (default: from the checkpoint's training data, or square)")
	label := fs.String("label", "", "conditional models: the `class` to sample (its number or name), or all: --n of every class, one row of the grid each (default all, with --n defaulting to --per-row)")
	return func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
		if err := atLeast("n", *n, 1); err != nil {
			return err
		}
		if err := atLeast("per-row", *perRow, 1); err != nil {
			return err
		}
		if *format != "" {
			if err := checkMode("format", *format, "png", "csv", "npy"); err != nil {
				return err
			}
		}
		t, restore, err := f.open(stderr)
		if err != nil {
			return err
		}
		defer restore()
		m, st, cfg := t.m, t.st, t.m.Config()
		labels, perClass, err := sampleLabels(*label, *n, explicit(fs)["n"], *perRow, t)
		if err != nil {
			return err
		}
		if labels != nil {
			*n = len(labels)
			if perClass > 0 {
				*perRow = perClass
			}
		}
		if *format == "" {
			*format = "png"
			if st.TrainImages > 0 && st.Rows == 0 && *size == "" {
				*format = "csv" // trained on data that are not images
			}
		}
		if *out == "" {
			*out = "sample." + *format
		}
		var rows, cols, channels int
		if *format == "png" {
			if rows, cols, channels, err = imageShape(*size, cfg.Input, st); err != nil {
				return err
			}
		}
		z := make([]float32, *n*cfg.Latent)
		nn.Normal(z, rand.New(nn.NewSource(*seed, nn.StreamEval)))
		x := make([]float32, *n*cfg.Input)
		decodeRows(m, x, z, labels)
		if st.Normalize != nil {
			if err := st.Normalize.Check(cfg.Input); err != nil {
				return fmt.Errorf("checkpoint %s: %w", t.path, err)
			}
			st.Normalize.Invert(x)
		}
		switch *format {
		case "png":
			err = writeGrid(*out, split(x, cfg.Input), rows, cols, channels, *perRow)
		case "csv":
			err = writeAtomic(*out, func(w io.Writer) error {
				cols := st.Columns
				if len(cols) != cfg.Input {
					cols = nil
				}
				return dataset.WriteCSV(w, cols, x, cfg.Input)
			})
		case "npy":
			shape := append([]int{*n}, st.Shape...)
			if len(st.Shape) == 0 || len(x) != product(shape) {
				shape = []int{*n, cfg.Input}
			}
			err = writeAtomic(*out, func(w io.Writer) error { return dataset.WriteNPY(w, shape, x) })
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "fastvae: wrote %d samples of %s to %s\n", *n, cfg, *out)
		return nil
	}
}

// sampleLabels returns the label of each sample --label asks of a
// conditional model: n of one class, or, for all (the default), n of each
// class in turn (perClass of them: --n when given, else a row of the grid,
// perRow). It returns nil for an unconditional model, and fails when
// --label names no class of the model or the model is unconditional.
func sampleLabels(label string, n int, nGiven bool, perRow int, t *trained) (labels []int, perClass int, err error) {
	classes, names := t.m.Config().Classes, t.m.ClassNames()
	if classes == 0 {
		if label != "" {
			return nil, 0, fmt.Errorf("--label %s: checkpoint %s is not a conditional model (it was trained without --conditional)", label, t.path)
		}
		return nil, 0, nil
	}
	if label == "" || label == "all" {
		perClass = perRow
		if nGiven {
			perClass = n
		}
		return classRows(classes, perClass), perClass, nil
	}
	c, err := strconv.Atoi(label)
	if err != nil {
		if c = slices.Index(names, label); c < 0 {
			return nil, 0, usagef("--label %q: want a class number (0 to %d), a class name of the checkpoint or all", label, classes-1)
		}
	}
	if c < 0 || c >= classes {
		return nil, 0, fmt.Errorf("--label %d: checkpoint %s has %d classes, 0 to %d", c, t.path, classes, classes-1)
	}
	return slices.Repeat([]int{c}, n), 0, nil
}

func product(shape []int) int {
	p := 1
	for _, d := range shape {
		p *= d
	}
	return p
}

// imageShape parses --size, or takes the training images' shape from the
// checkpoint, or guesses the squarest grey-scale shape of input pixels.
func imageShape(size string, input int, st trainState) (rows, cols, channels int, err error) {
	channels = 1
	if len(st.Shape) == 3 && st.Shape[2] == 3 {
		channels = 3
	}
	if size != "" {
		if _, err := fmt.Sscanf(size, "%dx%d", &rows, &cols); err != nil || rows < 1 || cols < 1 || rows*cols*channels != input {
			if channels == 3 {
				return 0, 0, 0, usagef("--size %q: want ROWSxCOLS with ROWS·COLS·3 = %d, the model's input size (RGB)", size, input)
			}
			return 0, 0, 0, usagef("--size %q: want ROWSxCOLS with ROWS·COLS = %d, the model's input size", size, input)
		}
		return rows, cols, channels, nil
	}
	if st.Rows > 0 && st.Rows*st.Cols*channels == input {
		return st.Rows, st.Cols, channels, nil
	}
	if st.TrainImages > 0 && st.Rows == 0 {
		return 0, 0, 0, usagef("the checkpoint was trained on data that are not images (%d values each): use --format csv or npy, or give --size ROWSxCOLS", input)
	}
	for r := 1; r*r <= input; r++ {
		if input%r == 0 {
			rows = r
		}
	}
	return rows, input / rows, 1, nil
}
