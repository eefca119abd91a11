package dataset

import (
	"archive/zip"
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"math"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// The readers' fuzz targets; 'make fuzz' (part of 'make test') runs each
// briefly. Run one longer with
//
//	go test -run '^$' -fuzz FuzzNPY -fuzztime 5m ./dataset
//
// Each checks that bad input is an error, never a panic, and that what is
// read is consistent (sizes, finite values, labels per example).

// checkSet fails unless s is a well-formed set.
func checkSet(t *testing.T, s *Set) {
	require.Positive(t, s.Len())
	require.Positive(t, s.Dim())
	require.Equal(t, s.Dim(), product(s.Shape))
	require.Equal(t, s.Len()*s.Dim(), len(s.u8)+len(s.f32))
	for _, v := range s.f32 {
		require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0))
	}
	if s.Labels != nil {
		require.Len(t, s.Labels, s.Len())
	}
	for _, l := range s.Labels {
		if s.Classes != nil {
			require.True(t, l >= 0 && l < len(s.Classes))
		}
	}
	row := make([]float32, s.Dim())
	s.Row(row, s.Len()-1)
}

func FuzzNPY(f *testing.F) {
	var b bytes.Buffer
	WriteNPY(&b, []int{2, 3}, []float32{0, 0.5, 1, 2, 3, 4})
	f.Add(b.Bytes())
	f.Add(npyBytes(1, u8x2x2, []byte{1, 2, 3, 4}))
	f.Add(npyBytes(2, "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 1, 2), }", make([]byte, 32)))
	f.Add(npyBytes(3, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)))
	f.Add(npyBytes(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := decodeNPY(bytes.NewReader(in), int64(len(in)))
		if err != nil {
			require.Nil(t, a)
			require.NotEmpty(t, err.Error())
			return
		}
		require.Equal(t, product(a.shape), len(a.u8)+len(a.f32)+len(a.ints))
		if s, err := a.examples("x.npy", ""); err == nil {
			if s.checkValues(true) == nil {
				checkSet(t, s)
			}
		}
		a.labels("y.npy")
	})
}

func FuzzNPZ(f *testing.F) {
	x := npyBytes(1, u8x2x2, []byte{1, 2, 3, 4})
	y := npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", []byte{0, 1})
	f.Add(npzBytes(f, map[string][]byte{"x_train.npy": x, "y_train.npy": y, "x_test.npy": x, "y_test.npy": y}, zip.Deflate))
	f.Add(npzBytes(f, map[string][]byte{"x_train.npy": x}, zip.Store))
	f.Add(npzBytes(f, map[string][]byte{"a.npy": x}, zip.Store))
	f.Fuzz(func(t *testing.T, in []byte) {
		train, test, err := decodeNPZ(bytes.NewReader(in), int64(len(in)), "x.npz", NPZKeys{})
		if err != nil {
			require.Nil(t, train)
			require.Nil(t, test)
			require.NotEmpty(t, err.Error())
			return
		}
		for _, s := range []*Set{train, test} {
			if s != nil && s.check(false) == nil {
				checkSet(t, s)
			}
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("a,b,label\n0.5,1,cat\n2,3,dog\n"), "label", false)
	f.Add([]byte("1;2;3\n4;5;6\n"), "", false)
	f.Add([]byte("x\ty\n1\t2\n"), "0", true)
	f.Add([]byte("\xef\xbb\xbf\"1\",2\n3,4\n"), "1", false)
	f.Add([]byte("1,2\n3\n"), "", false)
	f.Fuzz(func(t *testing.T, in []byte, label string, header bool) {
		s, err := decodeCSV(bytes.NewReader(in), "x.csv", CSVOptions{Header: header, LabelColumn: label})
		if err != nil {
			require.Nil(t, s)
			require.NotEmpty(t, err.Error())
			return
		}
		checkSet(t, s)
		if s.Columns != nil {
			require.Len(t, s.Columns, s.Dim())
		}
		if label != "" {
			require.Len(t, s.Labels, s.Len())
		}
		// What was read writes back and reads again the same.
		var b bytes.Buffer
		x := make([]float32, s.Len()*s.Dim())
		s.Rows(x, 0, s.Len())
		require.NoError(t, WriteCSV(&b, nil, x, s.Dim()))
		again, err := decodeCSV(&b, "y.csv", CSVOptions{})
		require.NoError(t, err)
		y := make([]float32, len(x))
		again.Rows(y, 0, again.Len())
		require.Equal(t, x, y)
	})
}

func FuzzImageFolder(f *testing.F) {
	defer func(n int) { maxImagePixels = n }(maxImagePixels)
	grey := image.NewGray(image.Rect(0, 0, 3, 2))
	rgb := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for i := range rgb.Pix {
		rgb.Pix[i] = byte(i * 11)
	}
	var jp, gf bytes.Buffer
	jpeg.Encode(&jp, rgb, nil)
	gif.Encode(&gf, grey, nil)
	f.Add(pngBytes(f, grey), pngBytes(f, rgb), true)
	f.Add(jp.Bytes(), gf.Bytes(), false)
	f.Add(pngBytes(f, image.NewPaletted(image.Rect(0, 0, 2, 3), color.Palette{color.Black, color.White})), []byte("junk"), true)
	f.Fuzz(func(t *testing.T, a, b []byte, classes bool) {
		maxImagePixels = 1 << 16 // keep each input cheap
		fsys := fstest.MapFS{}
		for i, img := range [][]byte{a, b} {
			name := "img" + strconv.Itoa(i) + ".png"
			if classes {
				name = "class" + strconv.Itoa(i) + "/" + name
			}
			fsys[name] = &fstest.MapFile{Data: img}
		}
		s, err := readImageFolder(fsys, "root", ImageFolderOptions{})
		if err != nil {
			require.Nil(t, s)
			require.NotEmpty(t, err.Error())
			return
		}
		checkSet(t, s)
		require.Equal(t, 2, s.Len())
		_, _, ch, ok := s.Image()
		require.True(t, ok)
		require.Contains(t, []int{1, 3}, ch)
		if classes {
			require.Equal(t, []int{0, 1}, s.Labels)
		}
	})
}
