package idx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Split names one half of an MNIST-style data set by its file-name prefix.
type Split string

// The two splits of MNIST-style data sets.
const (
	Train Split = "train"
	Test  Split = "t10k"
)

// Set is one split of a data set: its images and, when the directory has a
// labels file, one label per image.
type Set struct {
	Images
	Labels []uint8 // nil when there is no labels file

	ImagesFile string // the file the images were read from
	LabelsFile string // the file the labels were read from, or ""
}

// Load reads split from dir, which holds files named as MNIST's:
// SPLIT-images-idx3-ubyte and optionally SPLIT-labels-idx1-ubyte, each
// possibly gzipped with a .gz suffix. Errors name the directory or file and
// the problem; when the directory or the images file is missing, the error
// is fs.ErrNotExist to errors.Is.
func Load(dir string, split Split) (*Set, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &missingError{fmt.Sprintf("data directory %s does not exist", dir)}
	case err != nil:
		return nil, fmt.Errorf("data directory: %w", err)
	case !st.IsDir():
		return nil, fmt.Errorf("data directory %s is not a directory", dir)
	}
	imgPath, err := ImagesFile(dir, split)
	if err != nil {
		return nil, err
	}
	im, err := ReadImages(imgPath)
	if err != nil {
		return nil, err
	}
	s := &Set{Images: *im, ImagesFile: imgPath}
	lblPath, err := find(dir, string(split)+"-labels-idx1-ubyte")
	if err != nil || lblPath == "" {
		return s, err
	}
	if s.Labels, err = ReadLabels(lblPath); err != nil {
		return nil, err
	}
	if len(s.Labels) != s.Len() {
		return nil, fmt.Errorf("%s: %d labels for the %d images of %s", lblPath, len(s.Labels), s.Len(), imgPath)
	}
	s.LabelsFile = lblPath
	return s, nil
}

// ImagesFile returns the path of split's images file in dir,
// SPLIT-images-idx3-ubyte or, when there is no raw file, its .gz. When
// there is neither, the error says so and is fs.ErrNotExist to errors.Is.
func ImagesFile(dir string, split Split) (string, error) {
	name := string(split) + "-images-idx3-ubyte"
	p, err := find(dir, name)
	if err == nil && p == "" {
		err = &missingError{fmt.Sprintf("%s: no %s or %s.gz", dir, name, name)}
	}
	return p, err
}

// find returns the path of name or name.gz in dir (the raw file first), or ""
// when neither exists. A directory in their place is an error.
func find(dir, name string) (string, error) {
	for _, n := range []string{name, name + ".gz"} {
		p := filepath.Join(dir, n)
		st, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return "", err
		case st.IsDir():
			return "", fmt.Errorf("%s is a directory, want an IDX file", p)
		}
		return p, nil
	}
	return "", nil
}

// missingError says in words that a file or directory is not there, and
// is fs.ErrNotExist to errors.Is.
type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }
func (e *missingError) Unwrap() error { return fs.ErrNotExist }
