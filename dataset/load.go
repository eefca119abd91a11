package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fastvae/fastvae/idx"
)

// Source says where a data set is and how to read it. Recorded with a
// model, it reads the same examples into the same parts again.
type Source struct {
	// Data is a directory of IDX files or of images, or a .npy, .npz or
	// CSV (.csv, .tsv, .txt) file.
	Data string
	// TestData, when set, is the test set (any format; its test part when
	// it has one). Otherwise the test set is Data's test part or, when it
	// has none, TestSplit of its examples, drawn with SplitSeed.
	TestData  string
	TestSplit float64
	SplitSeed uint64
	// ValidSplit, when positive, holds out that fraction of the training
	// part (after the test set is taken) as a validation set, drawn with
	// SplitSeed from a generator of its own.
	ValidSplit float64

	NPZKeys     NPZKeys
	Header      bool   // CSV: the first row is a header (else detected)
	LabelColumn string // CSV: the labels' column, by name or 0-based index
	// Classes are the label names of the training data, so that other
	// files number them alike.
	Classes []string
	// Unit requires every value to lie in [0, 1] (the values are
	// probabilities: a Bernoulli decoder, binarisation); a value outside is
	// a *RangeError.
	Unit bool
}

// Data is a data set read from a Source.
type Data struct {
	Train *Set
	// Test is nil when the data have no test part and no split was asked
	// for (TestSplit 0).
	Test *Set
	// Valid is the validation set of ValidSplit, or nil.
	Valid *Set
	// Held is the number of examples held out of Data as the test set (0
	// when the test set came from a file); Examples is how many Data had.
	Held, Examples int
	// Format names Data's format: "idx", "npy", "npz", "csv" or "images".
	Format string
}

// Load reads the data set of src, checks it (finite values, in [0, 1]
// when src.Unit, one label per example, training and test examples of one
// shape) and splits it as src says.
func Load(src Source) (*Data, error) {
	d, err := load(src)
	if err != nil || src.ValidSplit == 0 {
		return d, err
	}
	if d.Train, d.Valid, err = d.Train.split(src.ValidSplit, src.SplitSeed, validKey); err != nil {
		return nil, err
	}
	return d, nil
}

// load reads the training and test parts of src.
func load(src Source) (*Data, error) {
	format, err := detect(src.Data)
	if err != nil {
		return nil, err
	}
	testFormat := ""
	if src.TestData != "" {
		if testFormat, err = detect(src.TestData); err != nil {
			return nil, err
		}
	}
	if err := src.checkOptions(format, testFormat); err != nil {
		return nil, err
	}
	train, test, err := read(src.Data, format, src, src.Classes)
	if err != nil {
		return nil, err
	}
	d := &Data{Train: train, Test: test, Format: format, Examples: train.Len()}
	if err := train.check(src.Unit); err != nil {
		return nil, err
	}
	if src.TestData != "" {
		tr, te, err := read(src.TestData, testFormat, src, train.Classes)
		if err != nil {
			return nil, err
		}
		d.Test = te
		if te == nil {
			d.Test = tr
		}
	}
	if d.Test != nil {
		if err := d.Test.check(src.Unit); err != nil {
			return nil, err
		}
		if !sameShape(d.Test.Shape, train.Shape) {
			return nil, fmt.Errorf("%s: test examples of %s, but the training examples (%s) are %s",
				d.Test.Source, d.Test.Describe(), train.Source, train.Describe())
		}
		if d.Test.Classes != nil {
			d.Train.Classes = d.Test.Classes // numbered alike, maybe more of them
		}
		return d, nil
	}
	if src.TestSplit > 0 {
		if d.Train, d.Test, err = train.Split(src.TestSplit, src.SplitSeed); err != nil {
			return nil, err
		}
		d.Held = d.Test.Len()
	}
	return d, nil
}

// checkOptions fails on options for a format that neither file has, which
// would otherwise be ignored.
func (src *Source) checkOptions(format, testFormat string) error {
	files := src.Data + " is not"
	if src.TestData != "" {
		files = "neither " + src.Data + " nor " + src.TestData + " is"
	}
	neither := func(f string) bool { return format != f && testFormat != f }
	switch {
	case (src.Header || src.LabelColumn != "") && neither("csv"):
		return fmt.Errorf("a CSV header or label column is asked for, but %s a CSV file", files)
	case src.NPZKeys != NPZKeys{} && neither("npz"):
		return fmt.Errorf(".npz keys are given, but %s an .npz file", files)
	}
	return nil
}

func (s *Set) check(unit bool) error {
	if err := s.checkLabels(); err != nil {
		return err
	}
	return s.checkValues(unit)
}

func sameShape(a, b []int) bool { return slices.Equal(a, b) }

// detect names the format of what path points at.
func detect(path string) (string, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", &missingError{fmt.Sprintf("data %s does not exist", path)}
	case err != nil:
		return "", fmt.Errorf("data: %w", err)
	case st.IsDir():
		for _, split := range []idx.Split{idx.Train, idx.Test} {
			if _, err := idx.ImagesFile(path, split); !errors.Is(err, fs.ErrNotExist) {
				return "idx", nil // or a directory in the file's place, which idx.Load reports
			}
		}
		return "images", nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return "npy", nil
	case ".npz":
		return "npz", nil
	case ".csv", ".tsv", ".txt":
		return "csv", nil
	}
	// Otherwise by content.
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head, _ := bufio.NewReader(f).Peek(8)
	switch {
	case strings.HasPrefix(string(head), npyMagic):
		return "npy", nil
	case strings.HasPrefix(string(head), "PK\x03\x04"):
		return "npz", nil
	case len(head) >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 8:
		return "", fmt.Errorf("%s is an IDX file: give the directory that holds it (with train-images-idx3-ubyte and t10k-images-idx3-ubyte)", path)
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		return "", fmt.Errorf("%s is gzipped: give the directory of IDX files that holds it, or unpack it", path)
	}
	return "", fmt.Errorf("%s: not a data file this reader knows (want .npy, .npz or .csv, or a directory of IDX files or of images)", path)
}

// read reads the training part of path and its test part, if the format
// has one.
func read(path, format string, src Source, classes []string) (train, test *Set, err error) {
	switch format {
	case "idx":
		return readParts(
			func() (*Set, error) { return readIDX(path, idx.Train) },
			func() (*Set, error) { return readIDX(path, idx.Test) })
	case "npy":
		a, err := readNPYFile(path)
		if err != nil {
			return nil, nil, err
		}
		train, err = a.examples(path, "")
		return train, nil, err
	case "npz":
		return readNPZ(path, src.NPZKeys)
	case "csv":
		train, err = readCSV(path, CSVOptions{Header: src.Header, LabelColumn: src.LabelColumn, Classes: classes})
		return train, nil, err
	case "images":
		train, err = readImageFolder(os.DirFS(path), path, ImageFolderOptions{Classes: classes})
		return train, nil, err
	}
	return nil, nil, fmt.Errorf("dataset: unknown format %q", format)
}

// readIDX reads one split of a directory of IDX files; a missing test
// split is no error (nil), a missing training split is.
func readIDX(dir string, split idx.Split) (*Set, error) {
	is, err := idx.Load(dir, split)
	if err != nil {
		if split == idx.Test && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	s := newBytesSet([]int{is.Rows, is.Cols}, is.Pixels, is.ImagesFile)
	if is.Labels != nil {
		s.Labels = make([]int, len(is.Labels))
		for i, l := range is.Labels {
			s.Labels[i] = int(l)
		}
		s.LabelSource = is.LabelsFile
	}
	return s, nil
}

// missingError says in words that a file or directory is not there, and
// is fs.ErrNotExist to errors.Is.
type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }
func (e *missingError) Unwrap() error { return fs.ErrNotExist }

// readParts reads a training and a test part at once, on two cores where
// there are (decompressing dominates), and reports the training part's
// error first.
func readParts(train, test func() (*Set, error)) (tr, te *Set, err error) {
	var testErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		te, testErr = test()
	}()
	tr, err = train()
	<-done
	if err == nil {
		err = testErr
	}
	if err != nil {
		return nil, nil, err
	}
	return tr, te, nil
}
