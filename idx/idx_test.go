package idx

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// file builds an IDX file: the 4-byte magic, the dimensions, then data.
func file(magic uint32, dims []uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 37)
	}
	return b
}

func TestDecodeImages(t *testing.T) {
	pix := []byte{0, 1, 127, 128, 254, 255}
	raw := file(0x803, []uint32{2, 1, 3}, pix)
	for name, in := range map[string][]byte{"raw": raw, "gzip": gz(t, raw)} {
		t.Run(name, func(t *testing.T) {
			im, err := DecodeImages(bytes.NewReader(in))
			require.NoError(t, err)
			assert.Equal(t, 1, im.Rows)
			assert.Equal(t, 3, im.Cols)
			assert.Equal(t, 2, im.Len())
			assert.Equal(t, 3, im.Size())
			require.Len(t, im.Pixels, 6)
			assert.Equal(t, pix, im.Pixels)
			assert.Equal(t, im.Pixels[3:6], im.At(1))
		})
	}
}

func TestDecodeLabels(t *testing.T) {
	raw := file(0x801, []uint32{4}, []byte{9, 0, 3, 255})
	for name, in := range map[string][]byte{"raw": raw, "gzip": gz(t, raw)} {
		t.Run(name, func(t *testing.T) {
			l, err := DecodeLabels(bytes.NewReader(in))
			require.NoError(t, err)
			assert.Equal(t, []uint8{9, 0, 3, 255}, l)
		})
	}
}

func TestWriteRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	pix := seq(5 * 4 * 3)
	require.NoError(t, WriteImages(&buf, 4, 3, pix))
	im, err := DecodeImages(&buf)
	require.NoError(t, err)
	assert.Equal(t, 5, im.Len())
	assert.Equal(t, pix, im.Pixels)
	buf.Reset()
	require.NoError(t, WriteLabels(&buf, []byte{1, 2, 3}))
	l, err := DecodeLabels(&buf)
	require.NoError(t, err)
	assert.Equal(t, []uint8{1, 2, 3}, l)

	assert.Error(t, WriteImages(&buf, 4, 3, pix[:7]))
	assert.Error(t, WriteImages(&buf, 0, 3, nil))
	assert.Error(t, WriteLabels(&buf, nil))
}

// gzipTruncated is a valid images file, gzipped, cut in the middle of the
// compressed stream.
func gzipTruncated(t testing.TB) []byte {
	b := gz(t, file(0x803, []uint32{10, 28, 28}, seq(10*28*28)))
	return b[:len(b)/2]
}

// gzipBadChecksum is a valid images file, gzipped, with its CRC-32 damaged.
func gzipBadChecksum(t testing.TB) []byte {
	b := gz(t, file(0x803, []uint32{1, 2, 2}, []byte{1, 2, 3, 4}))
	b[len(b)-8] ^= 0xff
	return b
}

func TestDecodeImagesErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty file, want an IDX images file"},
		{"short magic", []byte{0, 0}, "truncated header: 2 bytes, want at least 4"},
		{"not IDX", []byte("P5\n28 28\n255\n"), "bad magic number 0x50350a32: not an IDX file"},
		{"labels file", file(0x801, []uint32{3}, []byte{1, 2, 3}), "bad magic number 0x00000801: unsigned bytes, 1 dimension, want IDX images (unsigned bytes, 3 dimensions, magic 0x00000803)"},
		{"float32 data", file(0x0d03, []uint32{1, 1, 1}, []byte{0, 0, 0, 0}), "bad magic number 0x00000d03: float32, 3 dimensions"},
		{"unknown type", file(0x4203, []uint32{1, 1, 1}, []byte{0}), "unknown element type 0x42"},
		{"short dims", file(0x803, []uint32{1, 2}, nil), "truncated header: 12 bytes, want 16"},
		{"no images", file(0x803, []uint32{0, 28, 28}, nil), "header declares 0 images"},
		{"no rows", file(0x803, []uint32{5, 0, 28}, nil), "header declares 0×28-pixel images"},
		{"huge", file(0x803, []uint32{1 << 31, 1 << 16, 1 << 16}, nil), "header declares dimensions 2147483648×65536×65536: too large"},
		{"truncated data", file(0x803, []uint32{3, 2, 2}, seq(11)), "truncated data: header declares 3×2×2 (12 bytes), file has 11"},
		{"trailing data", file(0x803, []uint32{3, 2, 2}, seq(13)), "trailing data: file is longer than the 12 bytes its header (3×2×2) declares"},
		{"gzip truncated", gzipTruncated(t), "truncated gzip stream"},
		{"gzip checksum", gzipBadChecksum(t), "corrupt gzip stream: invalid checksum"},
		{"gzip header only", []byte{0x1f, 0x8b}, "truncated gzip stream"},
		{"gzip bad header", []byte{0x1f, 0x8b, 0x42, 0, 0, 0, 0, 0, 0, 0, 0}, "corrupt gzip stream: invalid header"},
		{"gzip bad data", append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, 0xff, 0xff, 0xff, 0xff), "corrupt gzip stream: flate: corrupt input"},
		{"gzip of wrong magic", gz(t, file(0x801, []uint32{1}, []byte{1})), "bad magic number 0x00000801"},
		{"gzip of truncated data", gz(t, file(0x803, []uint32{3, 2, 2}, seq(5))), "truncated data: header declares 3×2×2 (12 bytes), file has 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := DecodeImages(bytes.NewReader(tt.in))
			require.Error(t, err)
			assert.Nil(t, im)
			assert.Contains(t, err.Error(), tt.want)
			// From a file, whose size lets the reader allocate the data
			// up front, the errors are the same.
			p := filepath.Join(t.TempDir(), "images")
			require.NoError(t, os.WriteFile(p, tt.in, 0o644))
			im, err = ReadImages(p)
			require.Error(t, err)
			assert.Nil(t, im)
			assert.Equal(t, p+": "+err.Error()[len(p)+2:], err.Error())
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestDecodeLabelsErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"images file", file(0x803, []uint32{1, 1, 1}, []byte{1}), "bad magic number 0x00000803: unsigned bytes, 3 dimensions, want IDX labels (unsigned bytes, 1 dimension, magic 0x00000801)"},
		{"no labels", file(0x801, []uint32{0}, nil), "header declares 0 labels"},
		{"truncated", file(0x801, []uint32{10}, seq(3)), "truncated data: header declares 10 (10 bytes), file has 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeLabels(bytes.NewReader(tt.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestReadNamesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x-images-idx3-ubyte")
	require.NoError(t, os.WriteFile(p, file(0x803, []uint32{2, 2, 2}, seq(3)), 0o644))
	_, err := ReadImages(p)
	require.Error(t, err)
	assert.Equal(t, p+": truncated data: header declares 2×2×2 (8 bytes), file has 3", err.Error())

	_, err = ReadLabels(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+": bad magic number 0x00000803")

	_, err = ReadImages(filepath.Join(dir, "missing"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "missing"))
	assert.Contains(t, err.Error(), "no such file")
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// writeSet writes a split with n images of 2×3 pixels and, when labels is not
// nil, a labels file; gzipped files get a .gz suffix.
func writeSet(t *testing.T, dir string, split Split, n int, labels []byte, gzipped bool) {
	t.Helper()
	img := file(0x803, []uint32{uint32(n), 2, 3}, seq(n*6))
	name := filepath.Join(dir, string(split)+"-images-idx3-ubyte")
	lname := filepath.Join(dir, string(split)+"-labels-idx1-ubyte")
	if gzipped {
		img = gz(t, img)
		name += ".gz"
		lname += ".gz"
	}
	require.NoError(t, os.WriteFile(name, img, 0o644))
	if labels != nil {
		l := file(0x801, []uint32{uint32(len(labels))}, labels)
		if gzipped {
			l = gz(t, l)
		}
		require.NoError(t, os.WriteFile(lname, l, 0o644))
	}
}

func TestLoad(t *testing.T) {
	for _, gzipped := range []bool{false, true} {
		dir := t.TempDir()
		writeSet(t, dir, Train, 4, []byte{1, 2, 3, 4}, gzipped)
		writeSet(t, dir, Test, 2, nil, gzipped)

		s, err := Load(dir, Train)
		require.NoError(t, err)
		assert.Equal(t, 4, s.Len())
		assert.Equal(t, 2, s.Rows)
		assert.Equal(t, 3, s.Cols)
		assert.Equal(t, []uint8{1, 2, 3, 4}, s.Labels)
		suffix := map[bool]string{false: "", true: ".gz"}[gzipped]
		assert.Equal(t, filepath.Join(dir, "train-images-idx3-ubyte"+suffix), s.ImagesFile)
		assert.Equal(t, filepath.Join(dir, "train-labels-idx1-ubyte"+suffix), s.LabelsFile)

		s, err = Load(dir, Test)
		require.NoError(t, err)
		assert.Equal(t, 2, s.Len())
		assert.Nil(t, s.Labels)
		assert.Empty(t, s.LabelsFile)
	}
}

func TestLoadPrefersRaw(t *testing.T) {
	dir := t.TempDir()
	writeSet(t, dir, Train, 4, nil, false)
	writeSet(t, dir, Train, 2, nil, true)
	s, err := Load(dir, Train)
	require.NoError(t, err)
	assert.Equal(t, 4, s.Len())
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(notDir, nil, 0o644))

	mismatch := t.TempDir()
	writeSet(t, mismatch, Train, 4, []byte{1, 2, 3}, true)

	dirInPlace := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dirInPlace, "train-images-idx3-ubyte"), 0o755))

	badLabels := t.TempDir()
	writeSet(t, badLabels, Train, 4, nil, false)
	require.NoError(t, os.WriteFile(filepath.Join(badLabels, "train-labels-idx1-ubyte"), []byte{1, 2, 3}, 0o644))

	badImages := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(badImages, "train-images-idx3-ubyte.gz"), []byte{0x1f, 0x8b, 1}, 0o644))

	tests := []struct {
		name, dir, want string
		missing         bool // errors.Is(err, fs.ErrNotExist)
	}{
		{"missing dir", filepath.Join(dir, "nope"), "data directory " + filepath.Join(dir, "nope") + " does not exist", true},
		{"not a dir", notDir, "data directory " + notDir + " is not a directory", false},
		{"no images", dir, dir + ": no train-images-idx3-ubyte or train-images-idx3-ubyte.gz", true},
		{"label count", mismatch, filepath.Join(mismatch, "train-labels-idx1-ubyte.gz") + ": 3 labels for the 4 images of " + filepath.Join(mismatch, "train-images-idx3-ubyte.gz"), false},
		{"dir in place of file", dirInPlace, filepath.Join(dirInPlace, "train-images-idx3-ubyte") + " is a directory, want an IDX file", false},
		{"bad labels", badLabels, filepath.Join(badLabels, "train-labels-idx1-ubyte") + ": truncated header: 3 bytes, want at least 4", false},
		{"bad images", badImages, filepath.Join(badImages, "train-images-idx3-ubyte.gz") + ": truncated gzip stream", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(tt.dir, Train)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Equal(t, tt.want, err.Error())
			assert.Equal(t, tt.missing, errors.Is(err, fs.ErrNotExist), "errors.Is(err, fs.ErrNotExist)")
		})
	}
}
