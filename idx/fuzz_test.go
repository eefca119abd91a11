package idx

import (
	"bytes"
	"io"
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
		roundTrip(t, in, DecodeImages, func(im *Images) {
			require.Positive(t, im.Len())
			require.Len(t, im.Pixels, im.Len()*im.Rows*im.Cols)
		}, func(w *bytes.Buffer, im *Images) error { return WriteImages(w, im.Rows, im.Cols, im.Pixels) })
	})
}

func FuzzReadLabels(f *testing.F) {
	valid := file(0x801, []uint32{5}, []byte{0, 1, 2, 9, 255})
	f.Add(valid)
	f.Add(gz(f, valid))
	f.Add(file(0x801, []uint32{5}, []byte{0, 1}))
	f.Add(file(0x803, []uint32{1, 1, 1}, []byte{0}))
	f.Fuzz(func(t *testing.T, in []byte) {
		roundTrip(t, in, DecodeLabels, func(l []uint8) { require.NotEmpty(t, l) },
			func(w *bytes.Buffer, l []uint8) error { return WriteLabels(w, l) })
	})
}

// roundTrip decodes in: an error must come alone and say something; what
// decodes must pass check, and encode back to a file that decodes to the
// same.
func roundTrip[T any](t *testing.T, in []byte, decode func(io.Reader) (T, error), check func(T), encode func(*bytes.Buffer, T) error) {
	v, err := decode(bytes.NewReader(in))
	if err != nil {
		require.Zero(t, v)
		require.NotEmpty(t, err.Error())
		return
	}
	check(v)
	var buf bytes.Buffer
	require.NoError(t, encode(&buf, v))
	again, err := decode(&buf)
	require.NoError(t, err)
	assert.Equal(t, v, again)
}
