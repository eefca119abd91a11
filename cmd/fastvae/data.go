package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/nn"
	"github.com/fastvae/fastvae/vae"
)

// defaultData is where Debian's dataset-fashion-mnist puts Fashion-MNIST.
const defaultData = "/usr/share/datasets/fashion-mnist"

// dataFlags say where the data are and how to read them.
type dataFlags struct {
	data, testData, npzKeys, labelColumn string
	testSplit                            float64
	header                               bool
}

const dataUsage = "data `path`: a directory of IDX files (train-images-idx3-ubyte, t10k-images-idx3-ubyte, optional labels; raw or .gz) or of images (PNG, JPEG, GIF; one subfolder per class, or flat), or a .npy, .npz or CSV file"

// register declares the data flags; train also takes --test-split, the
// others find it, and the defaults of the rest, in the checkpoint.
func (d *dataFlags) register(fs *flag.FlagSet, train bool) {
	if train {
		fs.StringVar(&d.data, "data", defaultData, dataUsage)
		fs.Float64Var(&d.testSplit, "test-split", 0.1, "fraction of the examples held out as the test set when the data have no test part and --test-data is not given (drawn with --seed)")
	} else {
		fs.StringVar(&d.data, "data", "", dataUsage+" (default: the checkpoint's training data)")
	}
	fs.StringVar(&d.testData, "test-data", "", "test set `path`, in any of the formats of --data (its test part when it has one)")
	fs.StringVar(&d.npzKeys, "npz-keys", "", ".npz arrays to read, `train,test[,train_labels,test_labels]` (default x_train,x_test,y_train,y_test)")
	fs.BoolVar(&d.header, "header", false, "the CSV's first row is a header (default: detected)")
	fs.StringVar(&d.labelColumn, "label-column", "", "CSV column of the labels, by `name or index` (from 0); left out of the values")
}

// check validates the flags that can be checked before reading anything.
func (d *dataFlags) check(train bool) error {
	if train && !(d.testSplit > 0 && d.testSplit < 1) {
		return usagef("--test-split %v: want a fraction between 0 and 1", d.testSplit)
	}
	if d.npzKeys != "" {
		if _, err := dataset.ParseNPZKeys(d.npzKeys); err != nil {
			return usagef("--npz-keys %v", err)
		}
	}
	return nil
}

// dataState is the part of the trainer's state that says which data it
// trains on, so that eval, encode and a resumed run read the same
// examples into the same parts; and how it sees them.
type dataState struct {
	Data        string   `json:"data"`
	TestData    string   `json:"test_data,omitempty"`
	TestSplit   float64  `json:"test_split,omitempty"`  // the fraction of Data held out, when it was split
	ValidSplit  float64  `json:"valid_split,omitempty"` // the fraction of the training part held out for validation
	Examples    int      `json:"examples,omitempty"`    // in Data, before the splits
	NPZKeys     string   `json:"npz_keys,omitempty"`
	Header      bool     `json:"header,omitempty"`
	LabelColumn string   `json:"label_column,omitempty"`
	Classes     []string `json:"classes,omitempty"`
	// Shape is one example's (as dataset.Set.Shape); checkpoints before
	// it have only Rows and Cols, for grey-scale images.
	Shape   []int    `json:"shape,omitempty"`
	Columns []string `json:"columns,omitempty"`
	// Normalize is the standardisation of --normalize, from the training
	// part.
	Normalize *dataset.Standardization `json:"normalize,omitempty"`
}

// source is where the state's data are, for the model's decoder.
func (d *dataState) source(seed uint64, unit bool) dataset.Source {
	keys, _ := dataset.ParseNPZKeys(d.NPZKeys)
	return dataset.Source{
		Data: d.Data, TestData: d.TestData, TestSplit: d.TestSplit, ValidSplit: d.ValidSplit, SplitSeed: seed,
		NPZKeys: keys, Header: d.Header, LabelColumn: d.LabelColumn, Classes: d.Classes, Unit: unit,
	}
}

// needsUnit reports whether the values must lie in [0, 1], and why.
func needsUnit(dec vae.Decoder, binarize bool) (bool, string) {
	switch {
	case dec == vae.Bernoulli:
		return true, "the bernoulli decoder needs values in [0, 1]: use --decoder gaussian (with --normalize to standardise the values)"
	case binarize:
		return true, "--binarize needs values in [0, 1] (probabilities)"
	}
	return false, ""
}

// loadData reads the data set of src; when the values must be in [0, 1],
// why says so after an error that finds one outside.
func loadData(src dataset.Source, why string) (*dataset.Data, error) {
	d, err := dataset.Load(src)
	var re *dataset.RangeError
	switch {
	case errors.As(err, &re):
		return nil, fmt.Errorf("%w; %s", err, why)
	case src.Data == defaultData && src.TestData == "" && errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w (run 'make data' to install Debian's Fashion-MNIST, or pass --data PATH)", err)
	}
	return d, err
}

// checkInput fails unless the examples of s have the model's input size.
func checkInput(s *dataset.Set, input int, model string) error {
	if s.Dim() == input {
		return nil
	}
	what := fmt.Sprintf("examples of %d values", s.Dim())
	if _, _, ch, ok := s.Image(); ok && ch == 1 {
		what = fmt.Sprintf("images of %s=%d pixels", s.Describe(), s.Dim())
	} else if ok {
		what = fmt.Sprintf("images of %s=%d values", s.Describe(), s.Dim())
	}
	return fmt.Errorf("%s: %s, but %s takes %d", s.Source, what, model, input)
}

// noun names what a set holds, for messages: images or examples.
func noun(s *dataset.Set) string {
	if _, _, _, ok := s.Image(); ok {
		return "images"
	}
	return "examples"
}

// classNames returns the names of the labels of s: those the format gives
// (ImageFolder's folders, CSV strings), Fashion-MNIST's when dir looks like
// it, else nil (labels are then shown as numbers).
func classNames(s *dataset.Set, dir string) []string {
	if s.Classes != nil {
		return s.Classes
	}
	if !strings.Contains(strings.ToLower(filepath.Base(filepath.Clean(dir))), "fashion") {
		return nil
	}
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}

// binarizeFixed binarises the evaluation sets (the test set, then the
// validation set; nil ones are left out) once, from the start of the data
// stream of seed, and returns the generator positioned after those draws:
// training draws from there, so the evaluation sets are fixed for a run and
// can be rebuilt exactly when it resumes.
func binarizeFixed(seed uint64, sets ...*dataset.Set) *rand.ChaCha8 {
	r := nn.NewSource(seed, nn.StreamData)
	for _, s := range sets {
		if s != nil {
			s.Binarize(r)
		}
	}
	return r
}

// eachChunk converts the examples [from, Len) of s chunk at a time into
// buf (at least chunk·Dim long) and calls f with each chunk's rows,
// examples [lo, hi), until f returns an error, which it returns.
func eachChunk(s *dataset.Set, buf []float32, chunk, from int, f func(x []float32, lo, hi int) error) error {
	D := s.Dim()
	for lo := from; lo < s.Len(); lo += chunk {
		hi := min(lo+chunk, s.Len())
		x := buf[:(hi-lo)*D]
		s.Rows(x, lo, hi)
		if err := f(x, lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// evalSet returns the losses of m on s, converting chunk examples at a time
// into buf. With chunk the model's batch capacity, the chunks are those
// m.Eval would take of the whole set, so the result is the same bits.
func evalSet(m *vae.Model, s *dataset.Set, buf []float32, chunk int) vae.Stats {
	var st vae.Stats
	eachChunk(s, buf, chunk, 0, func(x []float32, lo, hi int) error {
		st.Add(evalRows(m, x, labelsOf(m, s, lo, hi)))
		return nil
	})
	return st
}

// encodeSet sets mu and logvar (Len×Latent each) for the examples of s,
// converting chunk examples at a time into buf.
func encodeSet(m *vae.Model, s *dataset.Set, mu, logvar, buf []float32, chunk int) {
	L := m.Config().Latent
	eachChunk(s, buf, chunk, 0, func(x []float32, lo, hi int) error {
		encodeRows(m, mu[lo*L:hi*L], logvar[lo*L:hi*L], x, labelsOf(m, s, lo, hi))
		return nil
	})
}
