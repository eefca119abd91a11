package idx

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seed corpus is testdata/fuzz/FuzzRead*/ (valid raw and gzipped files
// and damaged ones) plus the f.Add calls below. Run the fuzzers with
//
//	go test -fuzz FuzzReadImages ./idx
//	go test -fuzz FuzzReadLabels ./idx

func FuzzReadImages(f *testing.F) {
	valid := file(0x803, []uint32{2, 2, 3}, seq(12))
	f.Add(valid)
	f.Add(gz(f, valid))
	f.Add(file(0x803, []uint32{2, 2, 3}, seq(7)))
	f.Add(file(0x801, []uint32{2}, seq(2)))
	f.Fuzz(func(t *testing.T, in []byte) {
		im, err := DecodeImages(bytes.NewReader(in))
		if err != nil {
			require.Nil(t, im)
			require.NotEmpty(t, err.Error())
			return
		}
		require.Positive(t, im.Len())
		require.Len(t, im.Pixels, im.Len()*im.Rows*im.Cols)
		// What decoded must encode back to an equivalent file.
		var buf bytes.Buffer
		require.NoError(t, WriteImages(&buf, im.Rows, im.Cols, im.Pixels))
		again, err := DecodeImages(&buf)
		require.NoError(t, err)
		assert.Equal(t, im, again)
	})
}

func FuzzReadLabels(f *testing.F) {
	valid := file(0x801, []uint32{5}, []byte{0, 1, 2, 9, 255})
	f.Add(valid)
	f.Add(gz(f, valid))
	f.Add(file(0x801, []uint32{5}, []byte{0, 1}))
	f.Add(file(0x803, []uint32{1, 1, 1}, []byte{0}))
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := DecodeLabels(bytes.NewReader(in))
		if err != nil {
			require.Nil(t, l)
			require.NotEmpty(t, err.Error())
			return
		}
		require.NotEmpty(t, l)
		var buf bytes.Buffer
		require.NoError(t, WriteLabels(&buf, l))
		again, err := DecodeLabels(&buf)
		require.NoError(t, err)
		assert.Equal(t, l, again)
	})
}
