package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/internal/atomicfile"
	"github.com/fastvae/fastvae/vae"
)

const defaultCheckpoint = "results/checkpoint.safetensors"

// modelFlags are the flags of the commands that apply a trained model
// (eval, encode, sample): the checkpoint, and the kernels and threads to
// run it on.
type modelFlags struct {
	checkpoint string
	cpuFlags
}

func (f *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.checkpoint, "checkpoint", defaultCheckpoint, "checkpoint `path`")
	f.cpuFlags.register(fs)
}

// trained is a checkpoint: the model and, when fastvae train wrote it, the
// trainer's state (else a zero state).
type trained struct {
	path string
	m    *vae.Model
	st   trainState
}

// open applies --kernels and --threads and loads the checkpoint; restore
// undoes the first.
func (f *modelFlags) open(stderr io.Writer) (t *trained, restore func(), err error) {
	if restore, err = f.cpuFlags.apply(stderr); err != nil {
		return nil, nil, err
	}
	m, st, err := loadCheckpoint(f.checkpoint)
	if err != nil {
		restore()
		return nil, nil, err
	}
	return &trained{f.checkpoint, m, st}, restore, nil
}

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

// setFlags add to modelFlags the examples the model is applied to (eval,
// encode): the data and which part of them.
type setFlags struct {
	modelFlags
	dataFlags
	split string
}

func (f *setFlags) register(fs *flag.FlagSet) {
	f.modelFlags.register(fs)
	f.dataFlags.register(fs, false)
	fs.StringVar(&f.split, "split", "test", "which examples: test (the data's test part, --test-data, or those training held out), train, or valid (those --val-split held out)")
}

// open checks the flags, applies --kernels and --threads, and loads the
// checkpoint and the part of the data --split names; restore undoes the
// kernel choice.
func (f *setFlags) open(fs *flag.FlagSet, stderr io.Writer) (t *trained, s *dataset.Set, restore func(), err error) {
	if err := checkMode("split", f.split, "test", "train", "valid"); err != nil {
		return nil, nil, nil, err
	}
	if err := f.dataFlags.check(false); err != nil {
		return nil, nil, nil, err
	}
	if t, restore, err = f.modelFlags.open(stderr); err != nil {
		return nil, nil, nil, err
	}
	if s, err = t.load(&f.dataFlags, explicit(fs), f.split); err != nil {
		restore()
		return nil, nil, nil, err
	}
	return t, s, restore, nil
}

// load reads the part (test, train or valid) of the data the flags or, by
// default, the checkpoint name, and checks it fits the model (and, for a
// conditional one, has its labels); standardisation and binarisation are
// as in training. The test part is the data's own, or --test-data, or the
// examples training held out (recorded in the checkpoint); data with none
// evaluate whole. The validation part is what --val-split held out of the
// training part.
func (t *trained) load(df *dataFlags, set map[string]bool, part string) (*dataset.Set, error) {
	ds, st, cfg := t.st.dataState, t.st, t.m.Config()
	if ds.Data == "" { // a checkpoint without fastvae's training state
		ds.Data = defaultData
	}
	for _, o := range []struct {
		flag string
		dst  *string
		v    string
	}{{"data", &ds.Data, df.data}, {"test-data", &ds.TestData, df.testData}, {"npz-keys", &ds.NPZKeys, df.npzKeys}, {"label-column", &ds.LabelColumn, df.labelColumn}} {
		if set[o.flag] {
			*o.dst = o.v
		}
	}
	if set["header"] {
		ds.Header = df.header
	}
	if part == "valid" && ds.ValidSplit == 0 {
		return nil, fmt.Errorf("--split valid: checkpoint %s was trained without --val-split, so it has no validation set", t.path)
	}
	unit, why := needsUnit(cfg.Decoder, st.Binarize)
	if ds.Normalize != nil {
		unit = false
	}
	d, err := loadData(ds.source(st.Seed, unit), why)
	if err != nil {
		return nil, err
	}
	if ds.TestSplit > 0 && ds.TestData == "" && d.Examples != ds.Examples {
		return nil, fmt.Errorf("%s: %d examples, but checkpoint %s held out %g of the %d it was trained on: give the same data, or the test set with --test-data",
			ds.Data, d.Examples, t.path, ds.TestSplit, ds.Examples)
	}
	if ds.ValidSplit > 0 && part != "test" && d.Examples != ds.Examples {
		return nil, fmt.Errorf("%s: %d examples, but checkpoint %s held out %g of the %d it was trained on for validation: give the same data",
			ds.Data, d.Examples, t.path, ds.ValidSplit, ds.Examples)
	}
	s := d.Train
	switch {
	case part == "test" && d.Test != nil:
		s = d.Test
	case part == "valid":
		s = d.Valid
	}
	if err := checkInput(s, cfg.Input, "checkpoint "+t.path); err != nil {
		return nil, err
	}
	if err := checkLabels(s, cfg.Classes, "checkpoint "+t.path); err != nil {
		return nil, err
	}
	if z := ds.Normalize; z != nil {
		if err := z.Check(s.Dim()); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", t.path, err)
		}
		s.Standardize(z)
	}
	if st.Binarize {
		// As training binarised its evaluation sets: the validation set
		// after the test set.
		if part == "valid" {
			binarizeFixed(st.Seed, d.Test, s)
		} else {
			binarizeFixed(st.Seed, s)
		}
	}
	return s, nil
}

// evalChunk is how many examples eval and encode convert at a time: the
// PyTorch example's test batch.
const evalChunk = 128

// writeAtomic writes path through write, into a temporary file renamed
// over path once complete: the user never finds half a file.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
