package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/nn"
	"github.com/fastvae/fastvae/vae"
)

const defaultCheckpoint = "results/checkpoint.safetensors"

// loadCheckpoint loads a checkpoint and, when it was written by fastvae
// train, its training state (else a zero state).
func loadCheckpoint(path string) (*vae.Model, trainState, error) {
	var st trainState
	m, meta, err := vae.Load(path)
	if err != nil {
		return nil, st, err
	}
	if raw, ok := meta[metaKey]; ok {
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return nil, st, fmt.Errorf("checkpoint %s: corrupt training state", path)
		}
	}
	return m, st, nil
}

// loadForModel reads the part (test or train) of the data the flags or,
// by default, the checkpoint name, and checks it fits m; standardisation
// and binarisation are as in training. The test part is the data's own, or
// --test-data, or the examples training held out (recorded in the
// checkpoint); data with none evaluate whole.
func loadForModel(df *dataFlags, set map[string]bool, part string, m *vae.Model, st trainState, ckpt string) (*dataset.Set, error) {
	ds := st.dataState
	if ds.Data == "" { // a checkpoint without fastvae's training state
		ds.Data = defaultData
	}
	if set["data"] {
		ds.Data = df.data
	}
	if set["test-data"] {
		ds.TestData = df.testData
	}
	for _, o := range []struct {
		flag string
		dst  *string
		v    string
	}{{"npz-keys", &ds.NPZKeys, df.npzKeys}, {"label-column", &ds.LabelColumn, df.labelColumn}} {
		if set[o.flag] {
			*o.dst = o.v
		}
	}
	if set["header"] {
		ds.Header = df.header
	}
	unit, why := needsUnit(m.Config().Decoder, st.Binarize)
	if ds.Normalize != nil {
		unit = false
	}
	d, err := loadData(ds.source(st.Seed, unit), why)
	if err != nil {
		return nil, err
	}
	if ds.TestSplit > 0 && ds.TestData == "" && d.Examples != ds.Examples {
		return nil, fmt.Errorf("%s: %d examples, but checkpoint %s held out %g of the %d it was trained on: give the same data, or the test set with --test-data",
			ds.Data, d.Examples, ckpt, ds.TestSplit, ds.Examples)
	}
	s := d.Train
	if part == "test" && d.Test != nil {
		s = d.Test
	}
	if err := checkInput(s, m.Config().Input, "checkpoint "+ckpt); err != nil {
		return nil, err
	}
	if z := ds.Normalize; z != nil {
		if err := z.Check(s.Dim()); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", ckpt, err)
		}
		s.Standardize(z)
	}
	if st.Binarize {
		binarizeFixed(s, st.Seed)
	}
	return s, nil
}

// evalChunk is how many examples eval and encode convert at a time: the
// PyTorch example's test batch.
const evalChunk = 128

func setupEval(fs *flag.FlagSet) func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	ckpt := fs.String("checkpoint", defaultCheckpoint, "checkpoint `path`")
	df := &dataFlags{}
	df.register(fs, false)
	split := fs.String("split", "test", "which examples: test (the data's test part, --test-data, or those training held out) or train")
	return func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
		if err := checkMode("split", *split, "test", "train"); err != nil {
			return err
		}
		if err := df.check(false); err != nil {
			return err
		}
		m, st, err := loadCheckpoint(*ckpt)
		if err != nil {
			return err
		}
		s, err := loadForModel(df, explicit(fs), *split, m, st, *ckpt)
		if err != nil {
			return err
		}
		m.Reserve(evalChunk)
		buf := make([]float32, evalChunk*s.Dim())
		loss, recon, kl := evalSet(m, s, buf, evalChunk).PerExample()
		name := "Test"
		if *split == "train" {
			name = "Train"
		}
		fmt.Fprintf(stdout, "====> %s set loss: %.4f\n", name, loss)
		fmt.Fprintf(stdout, "reconstruction %.4f, KL %.4f nats per %s; %d %s of %s; model %s\n",
			recon, kl, strings.TrimSuffix(noun(s), "s"), s.Len(), noun(s), s.Source, m.Config())
		return nil
	}
}

func setupSample(fs *flag.FlagSet) func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	ckpt := fs.String("checkpoint", defaultCheckpoint, "checkpoint `path`")
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
		m, st, err := loadCheckpoint(*ckpt)
		if err != nil {
			return err
		}
		cfg := m.Config()
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
				return fmt.Errorf("checkpoint %s: %w", *ckpt, err)
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

// writeAtomic writes path through write, into a temporary file renamed
// over path once complete: the user never finds half a file. "-" is
// standard output.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
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

func setupEncode(fs *flag.FlagSet) func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	ckpt := fs.String("checkpoint", defaultCheckpoint, "checkpoint `path`")
	df := &dataFlags{}
	df.register(fs, false)
	split := fs.String("split", "test", "which examples: test (the data's test part, --test-data, or those training held out) or train")
	out := fs.String("out", "-", "CSV `file` to write (- for standard output)")
	return func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
		if err := checkMode("split", *split, "test", "train"); err != nil {
			return err
		}
		if err := df.check(false); err != nil {
			return err
		}
		m, st, err := loadCheckpoint(*ckpt)
		if err != nil {
			return err
		}
		s, err := loadForModel(df, explicit(fs), *split, m, st, *ckpt)
		if err != nil {
			return err
		}
		L, n := m.Config().Latent, s.Len()
		mu, logvar := make([]float32, n*L), make([]float32, n*L)
		encodeSet(m, s, mu, logvar, make([]float32, evalChunk*s.Dim()), evalChunk)

		write := func(w io.Writer) error {
			bw := bufio.NewWriter(w)
			bw.WriteString("index")
			if s.Labels != nil {
				bw.WriteString(",label")
				if s.Classes != nil {
					bw.WriteString(",class")
				}
			}
			for _, p := range []string{"mu", "logvar"} {
				for j := range L {
					fmt.Fprintf(bw, ",%s_%d", p, j)
				}
			}
			bw.WriteByte('\n')
			var buf []byte
			for i := range n {
				buf = strconv.AppendInt(buf[:0], int64(i), 10)
				if s.Labels != nil {
					buf = append(buf, ',')
					buf = strconv.AppendInt(buf, int64(s.Labels[i]), 10)
					if s.Classes != nil {
						buf = append(buf, ',')
						buf = appendCSVField(buf, s.Classes[s.Labels[i]])
					}
				}
				for _, v := range [][]float32{mu[i*L : (i+1)*L], logvar[i*L : (i+1)*L]} {
					for _, x := range v {
						buf = append(buf, ',')
						buf = strconv.AppendFloat(buf, float64(x), 'g', -1, 32)
					}
				}
				buf = append(buf, '\n')
				bw.Write(buf)
			}
			return bw.Flush()
		}
		if *out == "-" {
			if err := write(stdout); err != nil {
				return fmt.Errorf("write standard output: %w", err)
			}
			return nil
		}
		if err := writeAtomic(*out, write); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "fastvae: wrote mu and logvar of %d %s to %s\n", n, noun(s), *out)
		return nil
	}
}

// appendCSVField appends s, quoted when CSV needs it.
func appendCSVField(buf []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") && strings.TrimSpace(s) == s {
		return append(buf, s...)
	}
	return append(append(buf, '"'), append([]byte(strings.ReplaceAll(s, `"`, `""`)), '"')...)
}
