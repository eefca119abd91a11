// Package dataset reads the data sets fastvae trains on, in the formats
// people already have them in: directories of MNIST-style IDX files (see
// package idx), NumPy .npy and .npz files, CSV tables and folders of PNG,
// JPEG or GIF images (flat, or one subfolder per class as torchvision's
// ImageFolder). Load picks the reader from what a path points at.
//
// A Set holds its examples once, in the smallest form that keeps them
// exactly: one byte per value for 8-bit data (images, uint8 arrays), float32
// otherwise. The model sees float32 rows, which Row, Rows and Gather make as
// they are needed (a batch at a time), so a data set of bytes costs a
// quarter of its float32 copy.
//
// Every reader returns errors that name the file and the place in it (line,
// key, image, example) and what is wrong, never panics on bad input, and
// never allocates much more than its input can hold; each is fuzzed.
package dataset

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Set is one part (training or test) of a data set: Len examples of Dim
// values each, with optional labels.
type Set struct {
	// Shape is the shape of one example: [H W] for grey-scale images,
	// [H W 3] for colour (RGB, channels last), [D] for a table row; other
	// NumPy shapes are kept as they were and flattened row-major.
	Shape []int
	// Labels holds one label per example, or is nil. Classes names them
	// when the format does (ImageFolder's subfolders, CSV string labels):
	// label l is Classes[l].
	Labels  []int
	Classes []string
	// Columns names the values of an example when the format does (a CSV
	// header, without the label column).
	Columns []string
	// Source is the file or directory the examples were read from, for
	// messages; LabelSource the labels' when they came from elsewhere.
	Source, LabelSource string

	n, dim int
	u8     []byte    // 8-bit data: byte b stands for b/255
	f32    []float32 // other data
	std    *Standardization
	// locate names example i, value j in the file, for messages.
	locate func(i, j int) string
}

// byteValue maps a byte to the value it stands for, computed once so that
// every value is exactly float32(b)/255, as PyTorch divides uint8 tensors.
var byteValue = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

func newBytesSet(shape []int, data []byte, source string) *Set {
	s := &Set{Shape: shape, dim: product(shape), u8: data, Source: source}
	s.n = len(data) / s.dim
	return s
}

func newFloatSet(shape []int, data []float32, source string) *Set {
	s := &Set{Shape: shape, dim: product(shape), f32: data, Source: source}
	s.n = len(data) / s.dim
	return s
}

func product(shape []int) int {
	p := 1
	for _, d := range shape {
		p *= d
	}
	return p
}

// Len returns the number of examples.
func (s *Set) Len() int { return s.n }

// Dim returns the number of values of one example.
func (s *Set) Dim() int { return s.dim }

// Compact reports whether the set holds one byte per value.
func (s *Set) Compact() bool { return s.u8 != nil }

// MemoryBytes returns the size of the examples as held.
func (s *Set) MemoryBytes() int { return len(s.u8) + 4*len(s.f32) }

// Image returns the picture shape of an example when the set holds images
// (grey-scale: channels 1; colour: 3), and ok false for other data.
func (s *Set) Image() (rows, cols, channels int, ok bool) {
	switch {
	case len(s.Shape) == 2:
		return s.Shape[0], s.Shape[1], 1, true
	case len(s.Shape) == 3 && (s.Shape[2] == 1 || s.Shape[2] == 3):
		return s.Shape[0], s.Shape[1], s.Shape[2], true
	}
	return 0, 0, 0, false
}

// Describe says what one example is, for messages: "28×28", "32×32×3",
// "12 values".
func (s *Set) Describe() string {
	if r, c, ch, ok := s.Image(); ok {
		if ch == 1 {
			return fmt.Sprintf("%d×%d", r, c)
		}
		return fmt.Sprintf("%d×%d×%d", r, c, ch)
	}
	if len(s.Shape) == 1 {
		return fmt.Sprintf("%d values", s.dim)
	}
	d := make([]string, len(s.Shape))
	for i, v := range s.Shape {
		d[i] = strconv.Itoa(v)
	}
	return strings.Join(d, "×") + " values"
}

// Row writes example i as float32 values into dst[:Dim()]: bytes become
// b/255, and the standardisation, if any, is applied.
func (s *Set) Row(dst []float32, i int) {
	d := s.dim
	dst = dst[:d]
	if s.u8 != nil {
		// A table look-up per value: a batch of 128×784 takes some 30 µs,
		// under 1% of a training step of the default model.
		for j, b := range s.u8[i*d : (i+1)*d] {
			dst[j] = byteValue[b]
		}
	} else {
		copy(dst, s.f32[i*d:(i+1)*d])
	}
	if z := s.std; z != nil {
		for j, m := range z.Mean[:d] {
			dst[j] = (dst[j] - m) / z.Std[j]
		}
	}
}

// Rows writes examples lo to hi−1 into dst, one after the other.
func (s *Set) Rows(dst []float32, lo, hi int) {
	for i := lo; i < hi; i++ {
		s.Row(dst[(i-lo)*s.dim:], i)
	}
}

// Gather writes the examples idx[0], idx[1], … into dst, one after the
// other (a shuffled batch).
func (s *Set) Gather(dst []float32, idx []int) {
	for k, i := range idx {
		s.Row(dst[k*s.dim:], i)
	}
}

// Binarize replaces every value p of the set by 1 with probability p and
// by 0 otherwise, drawing as the function Binarize does over all values in
// order: binarising the rows of the set one after the other gives the same
// values and leaves r in the same state. It panics on a standardised set,
// whose values are not probabilities.
func (s *Set) Binarize(r *rand.ChaCha8) {
	if s.std != nil {
		panic("dataset: Binarize of a standardised set")
	}
	if s.f32 != nil {
		Binarize(s.f32, s.f32, r)
		return
	}
	p := s.u8
	for i := 0; i < len(p); i += 2 {
		u := r.Uint64()
		p[i] = 255 * byte(bernoulli(byteValue[p[i]], uint32(u)))
		if i+1 < len(p) {
			p[i+1] = 255 * byte(bernoulli(byteValue[p[i+1]], uint32(u>>32)))
		}
	}
}

// Binarize sets dst[i] to 1 with probability src[i] and to 0 otherwise
// (dynamic binarisation), drawing 32 uniform bits per value from r. The
// draws depend only on len(src), so a generator's position is reproducible.
func Binarize(dst, src []float32, r *rand.ChaCha8) {
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

// Standardization maps each value x_j of an example to (x_j − Mean_j)/Std_j.
type Standardization struct {
	Mean []float32 `json:"mean"`
	Std  []float32 `json:"std"`
}

// Standardization returns the mean and the (population) standard deviation
// of each value over the set, accumulated in float64 in a fixed order, so
// that the same data give the same bits. A constant value gets Std 1, so it
// maps to 0 rather than to a division by zero.
func (s *Set) Standardization() *Standardization {
	d, n := s.dim, s.n
	sum := make([]float64, d)
	row := make([]float32, d)
	raw := *s
	raw.std = nil
	for i := range n {
		raw.Row(row, i)
		for j, v := range row {
			sum[j] += float64(v)
		}
	}
	z := &Standardization{Mean: make([]float32, d), Std: make([]float32, d)}
	mean := make([]float64, d)
	for j := range sum {
		mean[j] = sum[j] / float64(n)
		sum[j] = 0
	}
	for i := range n {
		raw.Row(row, i)
		for j, v := range row {
			e := float64(v) - mean[j]
			sum[j] += e * e
		}
	}
	for j := range sum {
		z.Mean[j] = float32(mean[j])
		sd := float32(math.Sqrt(sum[j] / float64(n)))
		if !(sd > 0) || math.IsInf(float64(sd), 0) {
			sd = 1
		}
		z.Std[j] = sd
	}
	return z
}

// Check reports what makes z unusable for examples of dim values.
func (z *Standardization) Check(dim int) error {
	if len(z.Mean) != dim || len(z.Std) != dim {
		return fmt.Errorf("standardisation of %d and %d values for examples of %d", len(z.Mean), len(z.Std), dim)
	}
	for j := range dim {
		m, sd := float64(z.Mean[j]), float64(z.Std[j])
		if math.IsNaN(m) || math.IsInf(m, 0) || !(sd > 0) || math.IsInf(sd, 0) {
			return fmt.Errorf("standardisation of value %d: mean %v, std %v", j, m, sd)
		}
	}
	return nil
}

// Invert maps standardised rows x (each of len(z.Mean) values) back in
// place: x_j·Std_j + Mean_j.
func (z *Standardization) Invert(x []float32) {
	d := len(z.Mean)
	for i := range x {
		j := i % d
		x[i] = x[i]*z.Std[j] + z.Mean[j]
	}
}

// Standardize makes Row and its kin apply z. z must suit the set (see
// Check); nil turns standardisation off.
func (s *Set) Standardize(z *Standardization) { s.std = z }

// RangeError is a value outside [0, 1] where the values must be
// probabilities.
type RangeError struct {
	Source, Where string
	Value         float32
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("%s: %s: value %v is outside [0, 1]", e.Source, e.Where, e.Value)
}

// checkValues fails on the first NaN or infinite value and, when unit, on
// the first value outside [0, 1], naming where it is.
func (s *Set) checkValues(unit bool) error {
	if s.f32 == nil {
		return nil // bytes are finite and, as b/255, in [0, 1]
	}
	for k, v := range s.f32 {
		switch {
		case math.IsNaN(float64(v)) || math.IsInf(float64(v), 0):
			return fmt.Errorf("%s: %s: %v is not allowed (data must be finite)", s.Source, s.where(k), v)
		case unit && !(v >= 0 && v <= 1):
			return &RangeError{s.Source, s.where(k), v}
		}
	}
	return nil
}

// where names value k of the data (example k/dim) in the file.
func (s *Set) where(k int) string {
	i, j := k/s.dim, k%s.dim
	if s.locate != nil {
		return s.locate(i, j)
	}
	return fmt.Sprintf("example %d, value %d", i, j)
}

// checkLabels fails unless there is one label per example.
func (s *Set) checkLabels() error {
	if s.Labels != nil && len(s.Labels) != s.n {
		src := s.LabelSource
		if src == "" {
			src = s.Source
		}
		return fmt.Errorf("%s: %d labels for the %d examples of %s", src, len(s.Labels), s.n, s.Source)
	}
	return nil
}

// errTooFew is the error of a split of fewer than two examples.
var errTooFew = errors.New("too few examples to hold some out")

// Split divides the set into a training and a test part, holding out
// round(fraction·Len) examples (at least one, and at least one left) drawn
// by a permutation from seed. Both parts keep the file's order. The
// examples are not copied: s is used up, its storage now holding both parts.
// The generator is a ChaCha8 keyed by "fastvae-split" and the seed, apart
// from every stream of package nn, so the split does not shift training.
func (s *Set) Split(fraction float64, seed uint64) (train, test *Set, err error) {
	return s.split(fraction, seed, testKey)
}

// The keys of the generators of the test and validation splits (with the
// seed): every split of a seed draws apart from the others.
const (
	testKey  = "fastvae-split"
	validKey = "fastvae-valid"
)

func (s *Set) split(fraction float64, seed uint64, key string) (train, test *Set, err error) {
	if !(fraction > 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("split fraction %v: want a number between 0 and 1", fraction)
	}
	if s.n < 2 {
		return nil, nil, fmt.Errorf("%s: %d example: %w", s.Source, s.n, errTooFew)
	}
	held := min(max(int(math.Round(fraction*float64(s.n))), 1), s.n-1)
	perm := rand.New(splitSource(key, seed)).Perm(s.n)
	testIdx := perm[:held]
	slices.Sort(testIdx)
	inTest := make([]bool, s.n)
	for _, i := range testIdx {
		inTest[i] = true
	}
	trainIdx := make([]int, 0, s.n-held)
	for i := range s.n {
		if !inTest[i] {
			trainIdx = append(trainIdx, i)
		}
	}
	ntr, d := len(trainIdx), s.dim
	// Train rows move forward (their indices are ascending), after the
	// test rows are saved; the test rows then fill the tail.
	if s.u8 != nil {
		s.u8 = compact(s.u8, trainIdx, testIdx, d)
	} else {
		s.f32 = compact(s.f32, trainIdx, testIdx, d)
	}
	var trLabels, teLabels []int
	if s.Labels != nil {
		l := compact(s.Labels, trainIdx, testIdx, 1)
		trLabels, teLabels = l[:ntr:ntr], l[ntr:]
	}
	part := func(lo, hi int, labels []int) *Set {
		p := &Set{Shape: s.Shape, Labels: labels, Classes: s.Classes, Columns: s.Columns,
			Source: s.Source, LabelSource: s.LabelSource, n: hi - lo, dim: d, std: s.std}
		if s.u8 != nil {
			p.u8 = s.u8[lo*d : hi*d : hi*d]
		} else {
			p.f32 = s.f32[lo*d : hi*d : hi*d]
		}
		return p
	}
	return part(0, ntr, trLabels), part(ntr, s.n, teLabels), nil
}

func compact[T any](data []T, trainIdx, testIdx []int, d int) []T {
	held := make([]T, 0, len(testIdx)*d)
	for _, i := range testIdx {
		held = append(held, data[i*d:(i+1)*d]...)
	}
	for k, i := range trainIdx {
		copy(data[k*d:(k+1)*d], data[i*d:(i+1)*d])
	}
	copy(data[len(trainIdx)*d:], held)
	return data
}

func splitSource(name string, seed uint64) *rand.ChaCha8 {
	var key [32]byte
	copy(key[:16], name) // zero-padded
	for i := range 8 {
		key[16+i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(key)
}

// classIndex numbers names as they first appear, after those of known.
type classIndex struct {
	names []string
	index map[string]int
}

func newClassIndex(known []string) *classIndex {
	c := &classIndex{names: slices.Clone(known), index: map[string]int{}}
	for i, n := range known {
		c.index[n] = i
	}
	return c
}

func (c *classIndex) id(name string) int {
	if i, ok := c.index[name]; ok {
		return i
	}
	c.index[name] = len(c.names)
	c.names = append(c.names, name)
	return len(c.names) - 1
}

// sortedKeys lists the keys of m in order, for messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare)
	return keys
}
