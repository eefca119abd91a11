// Package idx reads and writes the IDX files of MNIST and the data sets that
// copy its layout (Fashion-MNIST, KMNIST, EMNIST): a big-endian header giving
// the element type and the dimensions, then the raw elements.
//
// Only unsigned-byte files are supported, which is what those data sets use:
// images with 3 dimensions (count, rows, columns) and labels with 1. Files may
// be gzipped; the reader recognises the gzip magic number, so the file name
// does not matter. Every problem is reported as an error naming the file and
// what is wrong with it; the reader never panics on bad input and never
// allocates more than the data it actually received.
package idx

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"

	"github.com/klauspost/compress/gzip" // the standard library's API, half again as fast
)

// Images holds equally sized grey-scale images as the file stores them, one
// byte per pixel; byte b stands for the intensity b/255 (what torchvision's
// ToTensor makes of it). Keeping the bytes holds a data set in a quarter of
// the memory of its float32 copy.
type Images struct {
	Rows, Cols int
	// Pixels holds Len() images one after the other, each row-major.
	Pixels []byte
}

// Len returns the number of images.
func (im *Images) Len() int {
	if im.Rows*im.Cols == 0 {
		return 0
	}
	return len(im.Pixels) / (im.Rows * im.Cols)
}

// Size returns the number of pixels per image.
func (im *Images) Size() int { return im.Rows * im.Cols }

// At returns image i as a slice of Pixels (not a copy).
func (im *Images) At(i int) []byte {
	n := im.Size()
	return im.Pixels[i*n : (i+1)*n : (i+1)*n]
}

const (
	typeUbyte = 0x08
	// maxElements bounds what a header may declare: far above any real data
	// set, low enough that a float32 copy of the data cannot overflow int.
	maxElements = 1 << 33
	// maxInflate bounds what deflate makes of one compressed byte: a match
	// is at most 258 bytes and costs at least 2 bits. It bounds what a
	// gzipped file of known size can hold.
	maxInflate = 258 * 8 / 2
)

var gzipMagic = []byte{0x1f, 0x8b}

// DecodeImages reads an images file (3 dimensions of unsigned bytes) from r,
// which may be gzipped.
func DecodeImages(r io.Reader) (*Images, error) { return decodeImages(r, -1) }

func decodeImages(r io.Reader, size int64) (*Images, error) {
	dims, data, err := decode(r, size, 3, "images")
	if err != nil {
		return nil, err
	}
	if dims[1] == 0 || dims[2] == 0 {
		return nil, fmt.Errorf("header declares %d×%d-pixel images", dims[1], dims[2])
	}
	return &Images{Rows: dims[1], Cols: dims[2], Pixels: data}, nil
}

// DecodeLabels reads a labels file (1 dimension of unsigned bytes) from r,
// which may be gzipped.
func DecodeLabels(r io.Reader) ([]uint8, error) { return decodeLabels(r, -1) }

func decodeLabels(r io.Reader, size int64) ([]uint8, error) {
	_, data, err := decode(r, size, 1, "labels")
	return data, err
}

// ReadImages reads the images file at path. Errors name the file.
func ReadImages(path string) (*Images, error) { return readFile(path, decodeImages) }

// ReadLabels reads the labels file at path. Errors name the file.
func ReadLabels(path string) ([]uint8, error) { return readFile(path, decodeLabels) }

// readFile decodes the file at path, telling decode its size.
func readFile[T any](path string, decode func(r io.Reader, size int64) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	v, err := decode(f, fileSize(f))
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// fileSize returns the size of f, or -1 when it is unknown.
func fileSize(f *os.File) int64 {
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		return st.Size()
	}
	return -1
}

// decode reads an IDX file of unsigned bytes with want dimensions. It returns
// the dimensions and the data, whose length it has checked against them.
// size is the length of the input when known (else -1): it lets the data be
// read into one buffer of exactly the declared size, allocated up front
// only when the input can hold that much.
func decode(r io.Reader, size int64, want int, kind string) ([]int, []byte, error) {
	br := bufio.NewReader(r)
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == gzipMagic[0] && m[1] == gzipMagic[1] {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, gzipError(&gzipLayerError{err})
		}
		defer zr.Close()
		if size >= 0 {
			size *= maxInflate
		}
		dims, data, err := decodeRaw(gzipReader{zr}, size, want, kind)
		if err != nil {
			return nil, nil, gzipError(err)
		}
		return dims, data, nil
	}
	return decodeRaw(br, size, want, kind)
}

// gzipReader marks every error of the gzip layer except a clean end of stream
// (checksum verified), so that decodeRaw reports a damaged gzip stream as
// such rather than as truncated IDX content.
type gzipReader struct{ r io.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = &gzipLayerError{err}
	}
	return n, err
}

type gzipLayerError struct{ err error }

func (e *gzipLayerError) Error() string { return e.err.Error() }

// gzipError rewords the errors of compress/gzip and compress/flate so that the
// user learns the file is a damaged gzip stream, not a damaged IDX file.
func gzipError(err error) error {
	var ge *gzipLayerError
	if !errors.As(err, &ge) {
		return err // a problem with the IDX content
	}
	if err = ge.err; isEOF(err) {
		return fmt.Errorf("truncated gzip stream")
	}
	return fmt.Errorf("corrupt gzip stream: %v", strings.TrimPrefix(err.Error(), "gzip: "))
}

// formatError is a problem with the IDX content itself (as opposed to the
// gzip layer around it).
type formatError struct{ msg string }

func (e *formatError) Error() string { return e.msg }

func formatErrorf(format string, args ...any) error {
	return &formatError{fmt.Sprintf(format, args...)}
}

func decodeRaw(r io.Reader, size int64, want int, kind string) ([]int, []byte, error) {
	var magic [4]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		if isEOF(err) {
			if n == 0 {
				return nil, nil, formatErrorf("empty file, want an IDX %s file", kind)
			}
			return nil, nil, formatErrorf("truncated header: %d bytes, want at least 4", n)
		}
		return nil, nil, err
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, nil, formatErrorf("bad magic number 0x%08x: not an IDX file", binary.BigEndian.Uint32(magic[:]))
	}
	typ, ndim := magic[2], int(magic[3])
	if typ != typeUbyte || ndim != want {
		return nil, nil, formatErrorf("bad magic number 0x%08x: %s, want IDX %s (unsigned bytes, %d dimension%s, magic 0x%08x)",
			binary.BigEndian.Uint32(magic[:]), describe(typ, ndim), kind, want, plural(want), 0x800+want)
	}
	hdr := make([]byte, 4*ndim)
	if n, err := io.ReadFull(r, hdr); err != nil {
		if isEOF(err) {
			return nil, nil, formatErrorf("truncated header: %d bytes, want %d", 4+n, 4+len(hdr))
		}
		return nil, nil, err
	}
	dims := make([]int, ndim)
	total := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4*i:])
		dims[i] = int(d)
		hi, lo := bits.Mul64(total, uint64(d))
		if hi != 0 || lo > maxElements {
			return nil, nil, formatErrorf("header declares dimensions %s: too large", dimString(hdr))
		}
		total = lo
	}
	if dims[0] == 0 {
		return nil, nil, formatErrorf("header declares 0 %s", kind)
	}
	data, err := readBody(r, total, size)
	if err != nil && !isEOF(err) {
		return nil, nil, err
	}
	if uint64(len(data)) < total || err != nil {
		return nil, nil, formatErrorf("truncated data: header declares %s (%d bytes), file has %d", dimString(hdr), total, len(data))
	}
	if uint64(len(data)) > total {
		return nil, nil, formatErrorf("trailing data: file is longer than the %d bytes its header (%s) declares", total, dimString(hdr))
	}
	return dims, data, nil
}

// readBody reads the total bytes of the data and at most one more, to tell
// trailing data. When size (the most the input can hold, or -1) admits
// total, the buffer is allocated once at its final size; otherwise it grows
// as data arrives, so that a lying header cannot make us allocate memory the
// input cannot fill.
func readBody(r io.Reader, total uint64, size int64) ([]byte, error) {
	if size < 0 || total > uint64(size) {
		return io.ReadAll(io.LimitReader(r, int64(total)+1))
	}
	data := make([]byte, total)
	n, err := io.ReadFull(r, data)
	if err != nil {
		return data[:n], err
	}
	// The read past the end also lets gzip verify its checksum.
	var extra [1]byte
	m, err := io.ReadFull(r, extra[:])
	if m > 0 {
		return append(data, extra[0]), nil
	}
	if isEOF(err) {
		err = nil
	}
	return data, err
}

func isEOF(err error) bool { return err == io.EOF || err == io.ErrUnexpectedEOF }

func dimString(hdr []byte) string {
	var b strings.Builder
	for i := 0; i+4 <= len(hdr); i += 4 {
		if i > 0 {
			b.WriteString("×")
		}
		fmt.Fprint(&b, binary.BigEndian.Uint32(hdr[i:]))
	}
	return b.String()
}

func describe(typ byte, ndim int) string {
	names := map[byte]string{0x08: "unsigned bytes", 0x09: "signed bytes", 0x0b: "int16", 0x0c: "int32", 0x0d: "float32", 0x0e: "float64"}
	name, ok := names[typ]
	if !ok {
		name = fmt.Sprintf("unknown element type 0x%02x", typ)
	}
	return fmt.Sprintf("%s, %d dimension%s", name, ndim, plural(ndim))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WriteImages writes n images of rows×cols bytes, pixels holding them one
// after the other, as a raw (not gzipped) IDX images file.
func WriteImages(w io.Writer, rows, cols int, pixels []byte) error {
	if rows <= 0 || cols <= 0 || len(pixels) == 0 || len(pixels)%(rows*cols) != 0 {
		return fmt.Errorf("idx: WriteImages: %d bytes is not a positive number of %d×%d images", len(pixels), rows, cols)
	}
	return write(w, pixels, len(pixels)/(rows*cols), rows, cols)
}

// WriteLabels writes labels as a raw IDX labels file.
func WriteLabels(w io.Writer, labels []byte) error {
	if len(labels) == 0 {
		return fmt.Errorf("idx: WriteLabels: no labels")
	}
	return write(w, labels, len(labels))
}

func write(w io.Writer, data []byte, dims ...int) error {
	hdr := make([]byte, 4+4*len(dims))
	hdr[2], hdr[3] = typeUbyte, byte(len(dims))
	for i, d := range dims {
		if uint64(d) > 1<<32-1 {
			return fmt.Errorf("idx: dimension %d does not fit in 32 bits", d)
		}
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}
