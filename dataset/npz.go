package dataset

import (
	"archive/zip"
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/flate" // the standard library's API, half again as fast
)

// NPZKeys names the arrays of an .npz file that hold the training and
// test examples and their labels. The zero value means Keras's convention
// (x_train, x_test, y_train, y_test), in which only x_train must exist.
type NPZKeys struct {
	Train, Test, TrainLabels, TestLabels string
}

// ParseNPZKeys parses "train,test[,train_labels,test_labels]".
func ParseNPZKeys(s string) (NPZKeys, error) {
	f := strings.Split(s, ",")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
		if f[i] == "" {
			return NPZKeys{}, fmt.Errorf("%q: an empty key", s)
		}
	}
	switch len(f) {
	case 2:
		return NPZKeys{Train: f[0], Test: f[1]}, nil
	case 4:
		return NPZKeys{f[0], f[1], f[2], f[3]}, nil
	}
	return NPZKeys{}, fmt.Errorf("%q: want train,test or train,test,train_labels,test_labels", s)
}

// String returns the keys as ParseNPZKeys reads them ("" for the zero value).
func (k NPZKeys) String() string {
	switch {
	case k == NPZKeys{}:
		return ""
	case k.TrainLabels == "" && k.TestLabels == "":
		return k.Train + "," + k.Test
	}
	return strings.Join([]string{k.Train, k.Test, k.TrainLabels, k.TestLabels}, ",")
}

// readNPZ reads the training and (when the file has it) test part of the
// .npz file at path.
func readNPZ(path string, keys NPZKeys) (train, test *Set, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	return decodeNPZ(f, st.Size(), path, keys)
}

func decodeNPZ(r io.ReaderAt, size int64, path string, keys NPZKeys) (train, test *Set, err error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		if size == 0 {
			return nil, nil, fmt.Errorf("%s: empty file, want an .npz (zip) file", path)
		}
		return nil, nil, fmt.Errorf("%s: not an .npz file: %v", path, strings.TrimPrefix(err.Error(), "zip: "))
	}
	zr.RegisterDecompressor(zip.Deflate, flate.NewReader)
	members := map[string]*zip.File{}
	for _, m := range zr.File {
		if name, ok := strings.CutSuffix(m.Name, ".npy"); ok {
			members[name] = m
		}
	}
	explicit := keys != NPZKeys{}
	if !explicit {
		keys = NPZKeys{"x_train", "x_test", "y_train", "y_test"}
	}
	missing := func(key string) error {
		have := sortedKeys(members)
		if len(have) > 12 {
			have = append(have[:12], "…")
		}
		list := strings.Join(have, ", ")
		if list == "" {
			list = "no arrays"
		}
		return fmt.Errorf("%s: no array %q (the file has: %s); name the arrays with train,test[,train_labels,test_labels] keys", path, key, list)
	}
	// member decodes the array key, or reports it absent (nil, nil) or, if
	// need, missing.
	member := func(key string, need bool) (*array, error) {
		m, ok := members[key]
		switch {
		case !ok && need:
			return nil, missing(key)
		case !ok:
			return nil, nil
		}
		a, err := readMember(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, key, err)
		}
		return a, nil
	}
	read := func(key, labelsKey string, required bool) (*Set, error) {
		a, err := member(key, required)
		if a == nil {
			return nil, err
		}
		s, err := a.examples(path, key)
		if err != nil {
			return nil, fmt.Errorf("%s (array %s)", err, key)
		}
		if labelsKey == "" {
			return s, nil
		}
		la, err := member(labelsKey, explicit)
		if la == nil {
			if err != nil {
				return nil, err
			}
			return s, nil
		}
		s.LabelSource = path + ": " + labelsKey
		if s.Labels, err = la.labels(s.LabelSource); err != nil {
			return nil, err
		}
		if len(s.Labels) != s.n {
			return nil, fmt.Errorf("%s: %d labels for the %d examples of %s", s.LabelSource, len(s.Labels), s.n, key)
		}
		return s, nil
	}
	return readParts(
		func() (*Set, error) { return read(keys.Train, keys.TrainLabels, true) },
		func() (*Set, error) { return read(keys.Test, keys.TestLabels, explicit) })
}

// readMember decodes one array of an .npz file. What the member can hold
// is bounded by its compressed size, whatever its header claims.
func readMember(m *zip.File) (*array, error) {
	limit := int64(m.UncompressedSize64)
	switch m.Method {
	case zip.Store:
		limit = min(limit, int64(m.CompressedSize64))
	case zip.Deflate:
		limit = min(limit, int64(min(m.CompressedSize64, 1<<50))*258*8/2)
	}
	if limit < 0 {
		limit = 0
	}
	rc, err := m.Open()
	if err != nil {
		return nil, fmt.Errorf("%v", strings.TrimPrefix(err.Error(), "zip: "))
	}
	defer rc.Close()
	a, err := decodeNPY(bufio.NewReaderSize(zipErrors{rc}, 1<<16), limit)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// zipErrors rewords archive/zip's and compress/flate's errors so that they
// read as a damaged .npz file.
type zipErrors struct{ r io.Reader }

func (z zipErrors) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		if err == io.ErrUnexpectedEOF {
			return n, err
		}
		err = fmt.Errorf("damaged .npz member: %v", strings.TrimPrefix(err.Error(), "zip: "))
	}
	return n, err
}
