package main

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"

	"github.com/fastvae/fastvae/idx"
	"github.com/fastvae/fastvae/nn"
)

// defaultData is where Debian's dataset-fashion-mnist puts Fashion-MNIST.
const defaultData = "/usr/share/datasets/fashion-mnist"

// loadSplit reads one split of the data set in dir. When dir is the default
// and missing, the error says how to get it.
func loadSplit(dir string, split idx.Split) (*idx.Set, error) {
	s, err := idx.Load(dir, split)
	if err != nil && dir == defaultData && strings.Contains(err.Error(), "does not exist") {
		return nil, fmt.Errorf("%w (run 'make data' to install Debian's Fashion-MNIST, or pass --data DIR)", err)
	}
	return s, err
}

// checkInput fails unless the images of s have the model's input size.
func checkInput(s *idx.Set, input int, model string) error {
	if s.Size() != input {
		return fmt.Errorf("%s: images of %d×%d=%d pixels, but %s takes %d", s.ImagesFile, s.Rows, s.Cols, s.Size(), model, input)
	}
	return nil
}

// classNames returns the names of Fashion-MNIST's classes when dir looks
// like Fashion-MNIST, nil otherwise (labels are then shown as numbers).
func classNames(dir string) []string {
	if !strings.Contains(strings.ToLower(filepath.Base(filepath.Clean(dir))), "fashion") {
		return nil
	}
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}

// binarize sets dst[i] to 1 with probability src[i] and to 0 otherwise
// (dynamic binarisation), drawing 32 uniform bits per pixel from r. The
// draws depend only on len(src), so a generator's position is reproducible.
func binarize(dst, src []float32, r *rand.ChaCha8) {
	for i := 0; i < len(src); i += 2 {
		u := r.Uint64()
		dst[i] = bernoulli(src[i], uint32(u))
		if i+1 < len(src) {
			dst[i+1] = bernoulli(src[i+1], uint32(u>>32))
		}
	}
}

// bernoulli returns 1 when the uniform variate u/2³² (taken to 24 bits, the
// precision of a float32 in [0, 1)) is below p.
func bernoulli(p float32, u uint32) float32 {
	if float32(u>>8)*(1.0/(1<<24)) < p {
		return 1
	}
	return 0
}

// binarizeFixed binarises the evaluation set once, from the start of the
// data stream of seed, and returns the generator positioned after those
// draws: training draws from there, so the evaluation set is fixed for a run
// and can be rebuilt exactly when it resumes.
func binarizeFixed(s *idx.Set, seed uint64) *rand.ChaCha8 {
	r := nn.NewSource(seed, nn.StreamData)
	binarize(s.Pixels, s.Pixels, r)
	return r
}
