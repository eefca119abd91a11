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
	"strconv"

	"github.com/fastvae/fastvae/idx"
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

// loadForModel reads split from dir and checks it fits m; the evaluation
// set is binarised as in training when the checkpoint says so.
func loadForModel(dir, splitName string, m *vae.Model, st trainState, ckpt string) (*idx.Set, error) {
	split := idx.Test
	if splitName == "train" {
		split = idx.Train
	}
	s, err := loadSplit(dir, split)
	if err != nil {
		return nil, err
	}
	if err := checkInput(s, m.Config().Input, "checkpoint "+ckpt); err != nil {
		return nil, err
	}
	if st.Binarize {
		binarizeFixed(s, st.Seed)
	}
	return s, nil
}

func setupEval(fs *flag.FlagSet) func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	ckpt := fs.String("checkpoint", defaultCheckpoint, "checkpoint `path`")
	data := fs.String("data", defaultData, "`directory` of IDX files")
	split := fs.String("split", "test", "which images: test (t10k-*) or train")
	return func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
		if err := checkMode("split", *split, "test", "train"); err != nil {
			return err
		}
		m, st, err := loadCheckpoint(*ckpt)
		if err != nil {
			return err
		}
		s, err := loadForModel(*data, *split, m, st, *ckpt)
		if err != nil {
			return err
		}
		m.Reserve(128) // evaluate in batches of 128, as the PyTorch example's test loader
		loss, recon, kl := m.Eval(s.Pixels).PerExample()
		name := "Test"
		if *split == "train" {
			name = "Train"
		}
		fmt.Fprintf(stdout, "====> %s set loss: %.4f\n", name, loss)
		fmt.Fprintf(stdout, "reconstruction %.4f, KL %.4f nats per image; %d images of %s; model %s\n", recon, kl, s.Len(), s.ImagesFile, m.Config())
		return nil
	}
}

func setupSample(fs *flag.FlagSet) func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	ckpt := fs.String("checkpoint", defaultCheckpoint, "checkpoint `path`")
	out := fs.String("out", "sample.png", "PNG `file` to write")
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
		m, st, err := loadCheckpoint(*ckpt)
		if err != nil {
			return err
		}
		cfg := m.Config()
		rows, cols, err := imageShape(*size, cfg.Input, st)
		if err != nil {
			return err
		}
		z := make([]float32, *n*cfg.Latent)
		nn.Normal(z, rand.New(nn.NewSource(*seed, nn.StreamEval)))
		x := make([]float32, *n*cfg.Input)
		m.Decode(x, z)
		if err := writeGrid(*out, split(x, cfg.Input), rows, cols, *perRow); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "fastvae: wrote %d samples of %s to %s\n", *n, cfg, *out)
		return nil
	}
}

// imageShape parses --size, or takes the training images' shape from the
// checkpoint, or guesses the squarest shape of input pixels.
func imageShape(size string, input int, st trainState) (rows, cols int, err error) {
	if size != "" {
		if _, err := fmt.Sscanf(size, "%dx%d", &rows, &cols); err != nil || rows < 1 || cols < 1 || rows*cols != input {
			return 0, 0, usagef("--size %q: want ROWSxCOLS with ROWS·COLS = %d, the model's input size", size, input)
		}
		return rows, cols, nil
	}
	if st.Rows*st.Cols == input && st.Rows > 0 {
		return st.Rows, st.Cols, nil
	}
	for r := 1; r*r <= input; r++ {
		if input%r == 0 {
			rows = r
		}
	}
	return rows, input / rows, nil
}

func setupEncode(fs *flag.FlagSet) func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	ckpt := fs.String("checkpoint", defaultCheckpoint, "checkpoint `path`")
	data := fs.String("data", defaultData, "`directory` of IDX files")
	split := fs.String("split", "test", "which images: test (t10k-*) or train")
	out := fs.String("out", "-", "CSV `file` to write (- for standard output)")
	return func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
		if err := checkMode("split", *split, "test", "train"); err != nil {
			return err
		}
		m, st, err := loadCheckpoint(*ckpt)
		if err != nil {
			return err
		}
		s, err := loadForModel(*data, *split, m, st, *ckpt)
		if err != nil {
			return err
		}
		L, n := m.Config().Latent, s.Len()
		mu, logvar := make([]float32, n*L), make([]float32, n*L)
		m.Encode(mu, logvar, s.Pixels)

		w, closeOut := stdout, func() error { return nil }
		if *out != "-" {
			fh, err := os.Create(*out)
			if err != nil {
				return err
			}
			w, closeOut = fh, fh.Close
		}
		bw := bufio.NewWriter(w)
		bw.WriteString("index")
		if s.Labels != nil {
			bw.WriteString(",label")
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
		err = bw.Flush()
		if cerr := closeOut(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
		if *out != "-" {
			fmt.Fprintf(stdout, "fastvae: wrote mu and logvar of %d images to %s\n", n, *out)
		}
		return nil
	}
}
