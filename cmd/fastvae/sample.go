package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/nn"
)

func setupSample(fs *flag.FlagSet) func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	f := &modelFlags{}
	f.register(fs)
	out := fs.String("out", "", "`file` to write (default sample.png, or sample.csv, sample.npy)")
	format := fs.String("format", "", "png (a grid of images), csv (one sample per line) or npy (default png for images, csv for other data)")
	n := fs.Int("n", 64, "number of samples")
	perRow := fs.Int("per-row", 8, "samples per row of the grid")
	seed := fs.Uint64("seed", 1, "random seed of z")
	size := fs.String("size", "", "image `ROWSxCOLS` (default: from the checkpoint's training data, or square)")
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
		m.Decode(x, z)
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
