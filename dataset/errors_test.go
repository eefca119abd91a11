package dataset

import (
	"archive/zip"
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastvae/fastvae/idx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// npyBytes is a .npy file of the given header dict and data.
func npyBytes(version byte, dict string, data []byte) []byte {
	b := append([]byte(npyMagic), version, 0)
	hdr := dict + "\n"
	if version == 1 {
		b = append(b, byte(len(hdr)), byte(len(hdr)>>8))
	} else {
		b = append(b, byte(len(hdr)), byte(len(hdr)>>8), 0, 0)
	}
	return append(append(b, hdr...), data...)
}

func npzBytes(t testing.TB, members map[string][]byte, method uint16) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedKeys(members) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		require.NoError(t, err)
		_, err = w.Write(members[name])
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func pngBytes(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

const u8x2x2 = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }"

// TestBadInput: every kind of bad file gets one error naming the file (and
// the line, key, image or example) and what is wrong.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	grey := image.NewGray(image.Rect(0, 0, 3, 2))
	other := image.NewGray(image.Rect(0, 0, 2, 3))
	goodNPY := npyBytes(1, u8x2x2, []byte{1, 2, 3, 4})
	f4 := func(vals ...float32) []byte {
		var b bytes.Buffer
		require.NoError(t, WriteNPY(&b, []int{len(vals), 1}, vals))
		return b.Bytes()
	}
	labels3 := npyBytes(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", make([]byte, 24))

	tests := []struct {
		name string
		src  Source
		want string
	}{
		{"missing", Source{Data: filepath.Join(dir, "nope.npy")}, "data " + filepath.Join(dir, "nope.npy") + " does not exist"},
		{"unknown file", Source{Data: write("x.bin", []byte("hello"))}, "x.bin: not a data file this reader knows"},
		{"IDX file, not directory", Source{Data: write("train-images-idx3-ubyte", []byte{0, 0, 8, 3, 0, 0, 0, 1})}, "is an IDX file: give the directory"},

		{"npy empty", Source{Data: write("empty.npy", nil)}, "empty.npy: empty file"},
		{"npy not npy", Source{Data: write("text.npy", []byte("not numpy at all"))}, "text.npy: not a .npy file"},
		{"npy version", Source{Data: write("v9.npy", append([]byte(npyMagic), 9, 0, 0, 0))}, "format version 9.0"},
		{"npy object", Source{Data: write("obj.npy", npyBytes(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", make([]byte, 16)))}, `obj.npy: dtype "|O": object arrays are not supported`},
		{"npy complex", Source{Data: write("c.npy", npyBytes(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", make([]byte, 16)))}, `dtype "<c8" is not supported`},
		{"npy int16 data", Source{Data: write("i2.npy", npyBytes(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", make([]byte, 4)))}, "i2.npy: dtype <i2: integer data other than uint8 is not supported"},
		{"npy structured", Source{Data: write("rec.npy", npyBytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", make([]byte, 8)))}, "structured dtype"},
		{"npy truncated", Source{Data: write("short.npy", goodNPY[:len(goodNPY)-1])}, "short.npy: truncated data: header declares shape (2, 2) of |u1 (4 bytes), file has 3"},
		{"npy trailing", Source{Data: write("long.npy", append(append([]byte{}, goodNPY...), 9))}, "long.npy: trailing data"},
		{"npy truncated header", Source{Data: write("hdr.npy", goodNPY[:20])}, "hdr.npy: truncated header"},
		{"npy bad header", Source{Data: write("dict.npy", npyBytes(1, "{'descr': '|u1', 'shape': (2,)}", []byte{1, 2}))}, `no "fortran_order"`},
		{"npy no examples", Source{Data: write("zero.npy", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 3), }", nil))}, "zero.npy: shape (0, 3): no examples"},
		{"npy scalar", Source{Data: write("scalar.npy", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (), }", []byte{1}))}, "0-dimensional"},
		{"npy huge", Source{Data: write("huge.npy", npyBytes(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", nil))}, "too large"},
		{"npy NaN", Source{Data: write("nan.npy", f4(0.5, float32(nanValue())))}, "nan.npy: example 1 (index [1, 0]): NaN is not allowed"},
		{"npy Inf", Source{Data: write("inf.npy", f4(float32(infValue())))}, "inf.npy: example 0 (index [0, 0]): +Inf is not allowed"},
		{"npy outside [0, 1]", Source{Data: write("big.npy", f4(0.5, 0.25, 1.5)), Unit: true}, "big.npy: example 2 (index [2, 0]): value 1.5 is outside [0, 1]"},

		{"npz empty", Source{Data: write("empty.npz", nil)}, "empty.npz: empty file"},
		{"npz not zip", Source{Data: write("text.npz", []byte("PK but not a zip"))}, "text.npz: not an .npz file"},
		{"npz no keys", Source{Data: write("other.npz", npzBytes(t, map[string][]byte{"a.npy": goodNPY, "b.npy": goodNPY}, zip.Deflate))}, `other.npz: no array "x_train" (the file has: a, b)`},
		{"npz named keys missing", Source{Data: write("other2.npz", npzBytes(t, map[string][]byte{"a.npy": goodNPY}, zip.Store)), NPZKeys: NPZKeys{Train: "a", Test: "b"}}, `other2.npz: no array "b" (the file has: a)`},
		{"npz labels count", Source{Data: write("lab.npz", npzBytes(t, map[string][]byte{"x_train.npy": goodNPY, "y_train.npy": labels3}, zip.Deflate))}, "lab.npz: y_train: 3 labels for the 2 examples of x_train"},
		{"npz float labels", Source{Data: write("flab.npz", npzBytes(t, map[string][]byte{"x_train.npy": goodNPY, "y_train.npy": f4(1, 2)}, zip.Store))}, "flab.npz: y_train: labels of dtype <f4, want integers"},
		{"npz member truncated", Source{Data: write("trunc.npz", npzBytes(t, map[string][]byte{"x_train.npy": goodNPY[:len(goodNPY)-2]}, zip.Deflate))}, "trunc.npz: x_train: truncated data"},
		{"npz object", Source{Data: write("obj.npz", npzBytes(t, map[string][]byte{"x_train.npy": npyBytes(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", make([]byte, 16))}, zip.Deflate))}, "obj.npz: x_train: dtype \"|O\": object arrays"},

		{"csv empty", Source{Data: write("empty.csv", nil)}, "empty.csv: empty file"},
		{"csv ragged", Source{Data: write("ragged.csv", []byte("1,2,3\n4,5,6\n7,8\n"))}, "ragged.csv: line 3: 2 fields, but line 1 has 3"},
		{"csv not a number", Source{Data: write("text.csv", []byte("a,b\n1,2\n3,x\n"))}, `text.csv: line 3, column 1 ("b"): "x" is not a number`},
		{"csv empty field", Source{Data: write("hole.csv", []byte("1,2\n3,\n"))}, "hole.csv: line 2, column 1: an empty field"},
		{"csv NaN", Source{Data: write("nan.csv", []byte("1,2\nNaN,3\n"))}, "nan.csv: line 2, column 0: NaN is not allowed"},
		{"csv Inf", Source{Data: write("inf.csv", []byte("1;2\n3;-inf\n"))}, "inf.csv: line 2, column 1: -inf is not allowed"},
		{"csv overflow", Source{Data: write("ovf.csv", []byte("1e39\n"))}, `ovf.csv: line 1, column 0: "1e39" is out of the float32 range`},
		{"csv header only", Source{Data: write("hdr.csv", []byte("a,b\n")), Header: true}, "hdr.csv: line 1: a header and no rows"},
		{"csv no label column", Source{Data: write("nolab.csv", []byte("a,b\n1,2\n")), LabelColumn: "class"}, `nolab.csv: no column named "class" (the header is "a", "b")`},
		{"csv label index", Source{Data: write("idx.csv", []byte("1,2\n")), LabelColumn: "5"}, "idx.csv: label column 5: the rows have 2 columns (0 to 1)"},
		{"csv only labels", Source{Data: write("only.csv", []byte("1\n2\n")), LabelColumn: "0"}, "only.csv: no columns of values besides the label"},
		{"csv outside [0, 1]", Source{Data: write("range.csv", []byte("x,y\n0.5,0.5\n0.5,-2\n")), Unit: true}, `range.csv: line 3, column 1 ("y"): value -2 is outside [0, 1]`},
		{"csv label column outside [0, 1]", Source{Data: write("rl.csv", []byte("y,x\n5,0.5\n7,2\n")), Unit: true, LabelColumn: "y"}, `rl.csv: line 3, column 1 ("x"): value 2 is outside [0, 1]`},
		{"csv bad quotes", Source{Data: write("quote.csv", []byte("1,2\n3,\"4\n"))}, "quote.csv: line 2"},

		{"images none", Source{Data: filepath.Dir(write("noimg/readme.txt", []byte("hi")))}, "noimg: no images"},
		{"images undecodable", Source{Data: filepath.Dir(write("bad/x.png", []byte("not a png")))}, filepath.Join(dir, "bad", "x.png") + ": not a readable image"},
		{"images truncated", Source{Data: filepath.Dir(write("cut/x.png", pngBytes(t, grey)[:40]))}, filepath.Join(dir, "cut", "x.png") + ": not a readable image"},
		{"images sizes", Source{Data: func() string {
			write("sizes/a.png", pngBytes(t, grey))
			return filepath.Dir(write("sizes/b.png", pngBytes(t, other)))
		}()}, filepath.Join(dir, "sizes", "b.png") + ": 3×2 pixels (rows×columns), but " + filepath.Join(dir, "sizes", "a.png") + " is 2×3: all images must be of one size"},
		{"images empty class", Source{Data: func() string {
			write("cls/cat/a.png", pngBytes(t, grey))
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "cls", "dog"), 0o755))
			return filepath.Join(dir, "cls")
		}()}, "cls: class folder dog/ has no images"},
		{"images and folders", Source{Data: func() string {
			write("both/cat/a.png", pngBytes(t, grey))
			return filepath.Dir(write("both/b.png", pngBytes(t, grey)))
		}()}, "both: has both images (b.png) and folders (cat/)"},
		{"label column, no CSV", Source{Data: write("lc.npy", goodNPY), LabelColumn: "y"}, "a CSV header or label column is asked for, but " + filepath.Join(dir, "lc.npy") + " is not a CSV file"},
		{"npz keys, no npz", Source{Data: write("k.npy", goodNPY), TestData: write("k2.npy", goodNPY), NPZKeys: NPZKeys{Train: "a", Test: "b"}}, ".npz keys are given, but neither " + filepath.Join(dir, "k.npy") + " nor " + filepath.Join(dir, "k2.npy") + " is an .npz file"},
		{"test set of other shape", Source{Data: filepath.Dir(write("one/a.png", pngBytes(t, grey))), TestData: filepath.Dir(write("two/a.png", pngBytes(t, other)))}, "two: test examples of 3×2, but the training examples (" + filepath.Join(dir, "one") + ") are 2×3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Load(tt.src)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	var re *RangeError
	_, err := Load(Source{Data: filepath.Join(dir, "big.npy"), Unit: true})
	assert.True(t, errors.As(err, &re), "a value outside [0, 1] is a *RangeError")
}

func nanValue() float64 { var z float64; return z / z }
func infValue() float64 { var z float64; return 1 / z }

// TestImageFolderColour: a folder of grey and colour images is read as RGB,
// the grey ones with three equal channels; alpha is dropped.
func TestImageFolderColour(t *testing.T) {
	dir := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 2, 1))
	g.Pix = []byte{10, 20}
	c := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	c.Pix = []byte{1, 2, 3, 0, 4, 5, 6, 255}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.png"), pngBytes(t, g), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.png"), pngBytes(t, c), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644))
	d := mustLoad(t, Source{Data: dir})
	assert.Equal(t, []int{1, 2, 3}, d.Train.Shape)
	assert.Equal(t, []byte{10, 10, 10, 20, 20, 20, 1, 2, 3, 4, 5, 6}, d.Train.u8)
	assert.Nil(t, d.Train.Labels)

	// Grey palettes stay grey.
	p := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.Gray{0}, color.Gray{200}})
	p.Pix = []byte{1, 0}
	pd := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(pd, "p.png"), pngBytes(t, p), 0o644))
	d = mustLoad(t, Source{Data: pd})
	assert.Equal(t, []int{1, 2}, d.Train.Shape)
	assert.Equal(t, []byte{200, 0}, d.Train.u8)
}

func TestParseNPZKeys(t *testing.T) {
	k, err := ParseNPZKeys("a, b")
	require.NoError(t, err)
	assert.Equal(t, NPZKeys{Train: "a", Test: "b"}, k)
	assert.Equal(t, "a,b", k.String())
	k, err = ParseNPZKeys("a,b,c,d")
	require.NoError(t, err)
	assert.Equal(t, "a,b,c,d", k.String())
	for _, bad := range []string{"a", "a,b,c", "a,,b,c", ""} {
		_, err := ParseNPZKeys(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "", NPZKeys{}.String())
}

// TestMissingIsNotExist: a missing data path, test set or IDX images file
// is fs.ErrNotExist to errors.Is (so that callers need not read the
// message), other errors are not; a missing test part of an IDX directory
// is no error.
func TestMissingIsNotExist(t *testing.T) {
	dir := t.TempDir()
	trainOnly := filepath.Join(dir, "train-only")
	require.NoError(t, os.MkdirAll(trainOnly, 0o755))
	var img bytes.Buffer
	require.NoError(t, idx.WriteImages(&img, 2, 2, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	require.NoError(t, os.WriteFile(filepath.Join(trainOnly, "train-images-idx3-ubyte"), img.Bytes(), 0o644))
	testOnly := filepath.Join(dir, "test-only")
	require.NoError(t, os.MkdirAll(testOnly, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(testOnly, "t10k-images-idx3-ubyte"), img.Bytes(), 0o644))
	garbage := filepath.Join(dir, "x.bin")
	require.NoError(t, os.WriteFile(garbage, []byte("hello"), 0o644))

	for _, c := range []struct {
		name    string
		src     Source
		missing bool
	}{
		{"no data", Source{Data: filepath.Join(dir, "nope")}, true},
		{"no test data", Source{Data: trainOnly, TestData: filepath.Join(dir, "nope.npy")}, true},
		{"no training images", Source{Data: testOnly}, true},
		{"unknown format", Source{Data: garbage}, false},
	} {
		_, err := Load(c.src)
		require.Error(t, err, c.name)
		assert.Equal(t, c.missing, errors.Is(err, fs.ErrNotExist), "%s: %v", c.name, err)
	}
	d, err := Load(Source{Data: trainOnly})
	require.NoError(t, err)
	assert.Nil(t, d.Test)
	assert.Equal(t, 2, d.Train.Len())
}
