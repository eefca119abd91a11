package dataset

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fastvae/fastvae/idx"
	"github.com/fastvae/fastvae/internal/fixture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Images of 12×10 pixels (not square, to catch rows and columns swapped).
const testRows, testCols = 12, 10

// writeIDX writes a data set of ntrain and ntest random images with labels
// as IDX files into a new directory. The labels are sorted (every class
// 0–9 present), so that an ImageFolder of the images, whose order is by
// class, holds them in the same order.
func writeIDX(t testing.TB, ntrain, ntest int) string {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []struct {
		name string
		n    int
	}{{"train", ntrain}, {"t10k", ntest}} {
		pix := make([]byte, p.n*testRows*testCols)
		for i := range pix {
			pix[i] = byte(r.IntN(256))
		}
		pix[0], pix[1] = 0, 255
		lab := make([]byte, p.n)
		for i := range lab {
			lab[i] = byte(i * 10 / p.n)
		}
		var img, lbl bytes.Buffer
		require.NoError(t, idx.WriteImages(&img, testRows, testCols, pix))
		require.NoError(t, idx.WriteLabels(&lbl, lab))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p.name+"-images-idx3-ubyte"), img.Bytes(), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p.name+"-labels-idx1-ubyte"), lbl.Bytes(), 0o644))
	}
	return dir
}

// rows returns every example of s as float32 rows.
func rows(s *Set) []float32 {
	x := make([]float32, s.Len()*s.Dim())
	s.Rows(x, 0, s.Len())
	return x
}

// rgbOf is fixture.py's colour version of grey values: (v, 1−v, ⌊255v/2⌋/255).
func rgbOf(grey *Set) []float32 {
	x := make([]float32, 0, 3*grey.Len()*grey.Dim())
	for _, b := range grey.u8 {
		x = append(x, byteValue[b], byteValue[255-b], byteValue[b/2])
	}
	return x
}

func mustLoad(t *testing.T, src Source) *Data {
	t.Helper()
	d, err := Load(src)
	require.NoError(t, err)
	return d
}

// TestFormatsMatchIDX reads the same examples from files NumPy and PIL
// wrote, in every format and variant, and requires exactly the values and
// labels of the IDX original.
func TestFormatsMatchIDX(t *testing.T) {
	src := writeIDX(t, 60, 20)
	ref := mustLoad(t, Source{Data: src})
	require.Equal(t, "idx", ref.Format)
	require.True(t, ref.Train.Compact())
	require.Equal(t, []int{testRows, testCols}, ref.Train.Shape)
	trainX, testX := rows(ref.Train), rows(ref.Test)
	dir := fixture.Write(t, src)
	j := func(n string) string { return filepath.Join(dir, n) }

	tests := []struct {
		name    string
		src     Source
		format  string
		compact bool // held as bytes
		shape   []int
		train   []float32
		test    []float32 // nil: no test part
		labels  bool
		classes []string
	}{
		{"npz keras", Source{Data: j("mnist.npz")}, "npz", true, []int{testRows, testCols}, trainX, testX, true, nil},
		{"npz stored, keys", Source{Data: j("stored.npz"), NPZKeys: NPZKeys{"images", "test_images", "labels", "test_labels"}}, "npz", true, []int{testRows, testCols}, trainX, testX, true, nil},
		{"npy v1", Source{Data: j("train_v1.npy"), TestData: j("test.npy")}, "npy", true, []int{testRows, testCols}, trainX, testX, false, nil},
		{"npy v2", Source{Data: j("train_v2.npy")}, "npy", true, []int{testRows, testCols}, trainX, nil, false, nil},
		{"npy v3", Source{Data: j("train_v3.npy")}, "npy", true, []int{testRows, testCols}, trainX, nil, false, nil},
		{"npy f4 big-endian", Source{Data: j("train_f4_big.npy"), TestData: j("test_f4.npy")}, "npy", false, []int{testRows, testCols}, trainX, testX, false, nil},
		{"npy f4 fortran", Source{Data: j("train_f4_fortran.npy")}, "npy", false, []int{testRows, testCols}, trainX, nil, false, nil},
		{"npy f4 fortran big-endian", Source{Data: j("train_f4_fortran_big.npy")}, "npy", false, []int{testRows, testCols}, trainX, nil, false, nil},
		{"npy u1 fortran", Source{Data: j("train_u1_fortran.npy")}, "npy", true, []int{testRows, testCols}, trainX, nil, false, nil},
		{"npy f8 big-endian", Source{Data: j("train_f8_big.npy")}, "npy", false, []int{testRows, testCols}, trainX, nil, false, nil},
		{"npy flat", Source{Data: j("train_flat.npy")}, "npy", true, []int{testRows * testCols}, trainX, nil, false, nil},
		{"csv header", Source{Data: j("train_header.csv")}, "csv", false, []int{testRows * testCols}, trainX, nil, false, nil},
		{"csv no header", Source{Data: j("train_noheader.csv"), TestData: j("test_noheader.csv")}, "csv", false, []int{testRows * testCols}, trainX, testX, false, nil},
		{"csv label by name", Source{Data: j("train_label.csv"), TestData: j("test_label.csv"), LabelColumn: "label"}, "csv", false, []int{testRows * testCols}, trainX, testX, true, nil},
		{"tsv label by index, no header", Source{Data: j("train_label_last.tsv"), LabelColumn: "120"}, "csv", false, []int{testRows * testCols}, trainX, nil, true, nil},
		{"csv string labels, semicolons", Source{Data: j("train_names.csv"), TestData: j("test_names.csv"), LabelColumn: "label"}, "csv", false, []int{testRows * testCols}, trainX, testX, true,
			[]string{"c9", "c8", "c7", "c6", "c5", "c4", "c3", "c2", "c1", "c0"}},
		{"png imagefolder", Source{Data: j("png/train"), TestData: j("png/test")}, "images", true, []int{testRows, testCols}, trainX, testX, true,
			[]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		{"gif imagefolder", Source{Data: j("gif/train")}, "images", true, []int{testRows, testCols}, trainX, nil, true,
			[]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}},
		{"png flat", Source{Data: j("png_flat")}, "images", true, []int{testRows, testCols}, trainX, nil, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustLoad(t, tt.src)
			assert.Equal(t, tt.format, d.Format)
			assert.Equal(t, tt.compact, d.Train.Compact())
			assert.Equal(t, tt.shape, d.Train.Shape)
			require.Equal(t, ref.Train.Len(), d.Train.Len())
			if tt.train != nil {
				assert.True(t, bitsEqual(tt.train, rows(d.Train)), "training values differ")
			}
			if tt.test == nil {
				assert.Nil(t, d.Test)
			} else {
				require.NotNil(t, d.Test)
				assert.True(t, bitsEqual(tt.test, rows(d.Test)), "test values differ")
			}
			if tt.labels {
				assert.Equal(t, ref.Train.Labels, d.Train.Labels)
				if d.Test != nil {
					assert.Equal(t, ref.Test.Labels, d.Test.Labels)
				}
			}
			if tt.classes != nil {
				// Names are numbered as they first appear (fixture.py names
				// class k "c(9−k)"), folders in sorted order.
				assert.Equal(t, tt.classes, d.Train.Classes)
			} else {
				assert.Nil(t, d.Train.Classes)
			}
		})
	}

	t.Run("rgb", func(t *testing.T) {
		wantTrain, wantTest := rgbOf(ref.Train), rgbOf(ref.Test)
		for _, src := range []Source{
			{Data: j("train_rgb.npy"), TestData: j("test_rgb.npy")},
			{Data: j("rgb/train"), TestData: j("rgb/test")},
		} {
			d := mustLoad(t, src)
			assert.Equal(t, []int{testRows, testCols, 3}, d.Train.Shape)
			r, c, ch, ok := d.Train.Image()
			assert.True(t, ok)
			assert.Equal(t, [3]int{testRows, testCols, 3}, [3]int{r, c, ch})
			assert.True(t, d.Train.Compact())
			assert.True(t, bitsEqual(wantTrain, rows(d.Train)), src.Data)
			assert.True(t, bitsEqual(wantTest, rows(d.Test)), src.TestData)
		}
	})
	t.Run("jpeg", func(t *testing.T) {
		// Go's JPEG decoder and PIL's libjpeg round differently; measured
		// on these files: 1 level (of 255) at most for grey, 3 for 4:4:4
		// colour.
		for _, c := range []struct {
			dir, decoded string
			shape        []int
			tol          int
		}{
			{"jpeg/train", "jpeg_decoded.npy", []int{testRows, testCols}, 1},
			{"jpeg_rgb/train", "jpeg_rgb_decoded.npy", []int{testRows, testCols, 3}, 3},
		} {
			d := mustLoad(t, Source{Data: j(c.dir)})
			assert.Equal(t, c.shape, d.Train.Shape)
			a, err := readNPYFile(j(c.decoded))
			require.NoError(t, err)
			require.Len(t, d.Train.u8, len(a.u8))
			worst := 0
			for i, v := range a.u8 {
				worst = max(worst, abs(int(v)-int(d.Train.u8[i])))
			}
			t.Logf("%s: largest difference from PIL's decoding: %d levels", c.dir, worst)
			assert.LessOrEqual(t, worst, c.tol, c.dir)
		}
	})
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestOwnWriters reads what fastvae's writers wrote: WriteNPY's files, as
// .npy and inside an .npz, and WriteCSV's.
func TestOwnWriters(t *testing.T) {
	src := writeIDX(t, 30, 10)
	ref := mustLoad(t, Source{Data: src})
	dir := t.TempDir()
	var u8 bytes.Buffer
	require.NoError(t, WriteNPY(&u8, []int{30, testRows, testCols}, ref.Train.u8))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "u8.npy"), u8.Bytes(), 0o644))
	x := rows(ref.Train)
	var f4 bytes.Buffer
	require.NoError(t, WriteNPY(&f4, []int{30, testRows * testCols}, x))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f4.npy"), f4.Bytes(), 0o644))
	var csvb bytes.Buffer
	require.NoError(t, WriteCSV(&csvb, nil, x, testRows*testCols))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.csv"), csvb.Bytes(), 0o644))

	for _, name := range []string{"u8.npy", "f4.npy", "x.csv"} {
		d := mustLoad(t, Source{Data: filepath.Join(dir, name)})
		assert.True(t, bitsEqual(x, rows(d.Train)), name)
		assert.Equal(t, name == "u8.npy", d.Train.Compact(), name)
	}
	assert.Error(t, WriteNPY(&u8, []int{3}, []byte{1, 2}))
	assert.Error(t, WriteNPY(&u8, []int{1}, []int{1}))
}

func TestSplit(t *testing.T) {
	src := writeIDX(t, 100, 10)
	dir := t.TempDir()
	ref := mustLoad(t, Source{Data: src})
	var b bytes.Buffer
	require.NoError(t, WriteNPY(&b, []int{100, testRows, testCols}, ref.Train.u8))
	path := filepath.Join(dir, "x.npy")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))

	d := mustLoad(t, Source{Data: path, TestSplit: 0.25, SplitSeed: 3})
	require.Equal(t, 75, d.Train.Len())
	require.Equal(t, 25, d.Test.Len())
	assert.Equal(t, 25, d.Held)
	assert.Equal(t, 100, d.Examples)
	// The parts are the examples of the file, each once, in file order.
	all := rows(ref.Train)
	D := ref.Train.Dim()
	seen := map[int]bool{}
	find := func(row []float32) int {
		for i := range 100 {
			if bitsEqual(row, all[i*D:(i+1)*D]) {
				return i
			}
		}
		return -1
	}
	for _, part := range []*Set{d.Train, d.Test} {
		last := -1
		x := rows(part)
		for k := range part.Len() {
			i := find(x[k*D : (k+1)*D])
			require.Greater(t, i, last, "file order")
			require.False(t, seen[i])
			seen[i], last = true, i
		}
	}
	assert.Len(t, seen, 100)
	// The same seed gives the same split; another seed another one.
	again := mustLoad(t, Source{Data: path, TestSplit: 0.25, SplitSeed: 3})
	assert.True(t, bitsEqual(rows(d.Test), rows(again.Test)))
	other := mustLoad(t, Source{Data: path, TestSplit: 0.25, SplitSeed: 4})
	assert.False(t, bitsEqual(rows(d.Test), rows(other.Test)))
	// A format with a test part is not split.
	idxd := mustLoad(t, Source{Data: src, TestSplit: 0.25})
	assert.Equal(t, 0, idxd.Held)
	assert.Equal(t, 10, idxd.Test.Len())
	// Labels follow their examples.
	s := &Set{Shape: []int{1}, dim: 1, n: 10, f32: []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Labels: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}}
	tr, te, err := s.Split(0.3, 1)
	require.NoError(t, err)
	for _, p := range []*Set{tr, te} {
		for i, v := range p.f32 {
			assert.Equal(t, int(v), p.Labels[i])
		}
	}
	_, _, err = (&Set{Shape: []int{1}, dim: 1, n: 1, f32: []float32{1}}).Split(0.5, 1)
	assert.ErrorContains(t, err, "too few examples")
}

// TestValidSplit: ValidSplit holds out a seeded fraction of the training
// part, after the test set is taken and apart from it, and leaves the test
// set as it was.
func TestValidSplit(t *testing.T) {
	src := writeIDX(t, 100, 10)
	ref := mustLoad(t, Source{Data: src, SplitSeed: 3})
	d := mustLoad(t, Source{Data: src, ValidSplit: 0.2, SplitSeed: 3})
	require.Equal(t, 80, d.Train.Len())
	require.Equal(t, 20, d.Valid.Len())
	require.Len(t, d.Valid.Labels, 20)
	assert.Equal(t, 100, d.Examples)
	assert.True(t, bitsEqual(rows(ref.Test), rows(d.Test)), "the test set is the data's own")
	again := mustLoad(t, Source{Data: src, ValidSplit: 0.2, SplitSeed: 3})
	assert.True(t, bitsEqual(rows(d.Valid), rows(again.Valid)))
	other := mustLoad(t, Source{Data: src, ValidSplit: 0.2, SplitSeed: 4})
	assert.False(t, bitsEqual(rows(d.Valid), rows(other.Valid)))
	// Its generator is not the test split's: the same seed and sizes
	// hold out other examples.
	s := &Set{Shape: []int{1}, dim: 1, n: 100, f32: make([]float32, 100)}
	for i := range s.f32 {
		s.f32[i] = float32(i)
	}
	s2 := &Set{Shape: []int{1}, dim: 1, n: 100, f32: slices.Clone(s.f32)}
	_, te, err := s.Split(0.2, 3)
	require.NoError(t, err)
	_, va, err := s2.split(0.2, 3, validKey)
	require.NoError(t, err)
	assert.NotEqual(t, te.f32, va.f32)
	assert.Nil(t, mustLoad(t, Source{Data: src}).Valid)
}

func TestStandardization(t *testing.T) {
	s := newFloatSet([]int{3}, []float32{1, 5, 2, 3, 5, 4, 5, 5, 6}, "x")
	z := s.Standardization()
	assert.Equal(t, []float32{3, 5, 4}, z.Mean)
	sd := float32(math.Sqrt(8.0 / 3))
	assert.Equal(t, []float32{sd, 1, sd}, z.Std, "a constant value gets std 1")
	require.NoError(t, z.Check(3))
	assert.Error(t, z.Check(4))
	s.Standardize(z)
	x := rows(s)
	assert.InDelta(t, -2/sd, x[0], 1e-6)
	assert.Equal(t, float32(0), x[1])
	z.Invert(x)
	assert.InDeltaSlice(t, []float32{1, 5, 2, 3, 5, 4, 5, 5, 6}, x, 1e-6)
	// From bytes alike.
	b := newBytesSet([]int{1}, []byte{0, 255}, "b")
	assert.Equal(t, []float32{0.5}, b.Standardization().Mean)
}

// TestBinarize: binarising a set of bytes in place draws as binarising its
// float32 rows, so a test set held as bytes stays what it was as floats.
func TestBinarize(t *testing.T) {
	src := writeIDX(t, 7, 3)
	d := mustLoad(t, Source{Data: src})
	x := rows(d.Train)
	r1, r2 := rand.NewChaCha8([32]byte{1}), rand.NewChaCha8([32]byte{1})
	Binarize(x, x, r1)
	d.Train.Binarize(r2)
	assert.True(t, bitsEqual(x, rows(d.Train)))
	assert.Equal(t, r1.Uint64(), r2.Uint64())
	for _, v := range x {
		assert.True(t, v == 0 || v == 1)
	}
	f := newFloatSet([]int{2}, []float32{0.5, 0.25, 1, 0}, "f")
	y := rows(f)
	Binarize(y, y, r1)
	f.Binarize(r2)
	assert.Equal(t, y, rows(f))
}

// TestGatherAllocatesNothing: the per-batch conversion is part of the
// training step, which allocates nothing.
func TestGatherAllocatesNothing(t *testing.T) {
	d := mustLoad(t, Source{Data: writeIDX(t, 50, 5)})
	dst := make([]float32, 8*d.Train.Dim())
	idx := []int{3, 1, 4, 1, 5, 9, 2, 6}
	assert.Zero(t, testing.AllocsPerRun(10, func() { d.Train.Gather(dst, idx) }))
	for k, i := range idx {
		row := make([]float32, d.Train.Dim())
		d.Train.Row(row, i)
		assert.Equal(t, row, dst[k*d.Train.Dim():(k+1)*d.Train.Dim()])
	}
}
