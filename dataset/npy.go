package dataset

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The NumPy file format (numpy.lib.format): the magic "\x93NUMPY", a major
// and a minor version byte, the header's length (2 bytes little-endian in
// version 1, 4 in versions 2 and 3), and the header: a Python dict literal
// with 'descr' (the dtype), 'fortran_order' and 'shape', padded with spaces
// and ended by a newline (ASCII; UTF-8 in version 3). The data follow.
const npyMagic = "\x93NUMPY"

const (
	// maxNPYHeader bounds the header; NumPy writes well under 200 bytes
	// for the arrays we read (and itself refuses headers over 10000).
	maxNPYHeader = 1 << 16
	// maxValues bounds what a header may declare: far above any data set
	// a VAE here trains on, low enough that no size computation overflows.
	maxValues = 1 << 34
)

// array is a decoded .npy file, in C order.
type array struct {
	shape []int
	descr string    // as the file gave it, for messages
	u8    []byte    // dtype uint8
	f32   []float32 // float32 and float64
	ints  []int     // other integer dtypes (labels)
}

// dtype is a NumPy type we read.
type dtype struct {
	kind  byte // 'u', 'i' or 'f'
	size  int  // bytes per value
	order binary.ByteOrder
}

func parseDescr(descr string) (dtype, error) {
	unsupported := func() (dtype, error) {
		return dtype{}, fmt.Errorf("dtype %q is not supported (want uint8, float32 or float64 data; integer labels)", descr)
	}
	if len(descr) < 2 {
		return unsupported()
	}
	if descr[1] == 'O' {
		return dtype{}, fmt.Errorf("dtype %q: object arrays are not supported (save numbers: uint8, float32 or float64)", descr)
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch descr[0] {
	case '<', '|', '=': // '=' is the writer's native order; NumPy writes '<' for it on little-endian hosts
	case '>':
		order = binary.BigEndian
	default:
		return unsupported()
	}
	size, err := strconv.Atoi(descr[2:])
	if err != nil {
		return unsupported()
	}
	t := dtype{kind: descr[1], size: size, order: order}
	switch {
	case t.kind == 'u' || t.kind == 'i':
		if size != 1 && size != 2 && size != 4 && size != 8 {
			return unsupported()
		}
	case t.kind == 'f':
		if size != 4 && size != 8 {
			return unsupported()
		}
	default:
		return unsupported()
	}
	return t, nil
}

// npyHeader is what the header of a .npy file declares.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
	values  uint64 // product of shape
	length  int64  // bytes of the magic, versions, length field and header
}

// readNPYHeader reads and checks the header.
func readNPYHeader(r io.Reader) (*npyHeader, error) {
	var pre [8]byte
	n, err := io.ReadFull(r, pre[:])
	if err != nil {
		if n == 0 && isEOF(err) {
			return nil, errors.New("empty file, want a .npy file")
		}
		if isEOF(err) {
			return nil, fmt.Errorf("truncated header: %d bytes", n)
		}
		return nil, err
	}
	if string(pre[:6]) != npyMagic {
		return nil, fmt.Errorf("not a .npy file (no \\x93NUMPY magic)")
	}
	major, minor := pre[6], pre[7]
	var lb []byte
	switch major {
	case 1:
		lb = make([]byte, 2)
	case 2, 3:
		lb = make([]byte, 4)
	default:
		return nil, fmt.Errorf("format version %d.%d: this reader knows 1.0, 2.0 and 3.0", major, minor)
	}
	if _, err := io.ReadFull(r, lb); err != nil {
		return nil, truncatedHeader(err)
	}
	var hlen uint64
	if len(lb) == 2 {
		hlen = uint64(binary.LittleEndian.Uint16(lb))
	} else {
		hlen = uint64(binary.LittleEndian.Uint32(lb))
	}
	if hlen > maxNPYHeader {
		return nil, fmt.Errorf("header of %d bytes: too long for a .npy header", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, truncatedHeader(err)
	}
	if major < 3 {
		for _, c := range hb {
			if c >= 0x80 {
				return nil, fmt.Errorf("header is not ASCII (format version %d.%d)", major, minor)
			}
		}
	} else if !utf8.Valid(hb) {
		return nil, errors.New("header is not UTF-8")
	}
	h, err := parseNPYDict(string(hb))
	if err != nil {
		return nil, fmt.Errorf("header %q: %w", strings.TrimSpace(string(hb)), err)
	}
	h.length = int64(8 + len(lb) + len(hb))
	return h, nil
}

func truncatedHeader(err error) error {
	if isEOF(err) {
		return errors.New("truncated header")
	}
	return err
}

func isEOF(err error) bool { return err == io.EOF || err == io.ErrUnexpectedEOF }

// parseNPYDict reads the header's dict literal.
func parseNPYDict(s string) (*npyHeader, error) {
	p := &pyParser{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q after the dict", p.s[p.i:])
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := d[k]; !ok {
			return nil, fmt.Errorf("no %q", k)
		}
	}
	h := &npyHeader{}
	switch descr := d["descr"].(type) {
	case string:
		h.descr = descr
	case []any:
		return nil, errors.New("structured dtype (record array) is not supported: save a plain array of numbers")
	default:
		return nil, errors.New("'descr' is not a string")
	}
	if h.fortran, ok = d["fortran_order"].(bool); !ok {
		return nil, errors.New("'fortran_order' is not True or False")
	}
	shape, ok := d["shape"].([]any)
	if !ok {
		return nil, errors.New("'shape' is not a tuple")
	}
	h.values = 1
	for _, x := range shape {
		v, ok := x.(int64)
		if !ok || v < 0 {
			return nil, fmt.Errorf("'shape' %v: not a tuple of sizes", shape)
		}
		hi, lo := bits.Mul64(h.values, uint64(v))
		if hi != 0 || lo > maxValues {
			return nil, fmt.Errorf("'shape' %v: too large", shape)
		}
		h.values = lo
		h.shape = append(h.shape, int(v))
	}
	return h, nil
}

// pyParser reads the Python literals of a .npy header: dicts, tuples,
// lists, strings, integers, True, False and None.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > 16 {
		return nil, errors.New("nested too deeply")
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.seq(depth, '}', true)
	case c == '(':
		return p.seq(depth, ')', false)
	case c == '[':
		return p.seq(depth, ']', false)
	case c == '\'' || c == '"':
		end := strings.IndexByte(p.s[p.i+1:], c)
		if end < 0 {
			return nil, errors.New("unterminated string")
		}
		v := p.s[p.i+1 : p.i+1+end]
		if strings.IndexByte(v, '\\') >= 0 {
			return nil, errors.New("escapes in strings are not supported")
		}
		p.i += end + 2
		return v, nil
	case c == '-' || (c >= '0' && c <= '9'):
		j := p.i + 1
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		tok := p.s[p.i:j]
		if j < len(p.s) && p.s[j] == 'L' { // Python 2's long suffix
			j++
		}
		v, err := strconv.ParseInt(tok, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad integer %q", tok)
		}
		p.i = j
		return v, nil
	}
	for _, w := range []struct {
		word string
		v    any
	}{{"True", true}, {"False", false}, {"None", nil}} {
		if strings.HasPrefix(p.s[p.i:], w.word) {
			p.i += len(w.word)
			return w.v, nil
		}
	}
	return nil, fmt.Errorf("unexpected %q", p.s[p.i:min(p.i+10, len(p.s))])
}

// seq reads a dict (keys must be strings) or a tuple or list up to end.
func (p *pyParser) seq(depth int, end byte, dict bool) (any, error) {
	p.i++
	var list []any
	m := map[string]any{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == end {
			p.i++
			if dict {
				return m, nil
			}
			return list, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if dict {
			k, ok := v.(string)
			if !ok {
				return nil, errors.New("dict key is not a string")
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, errors.New("expected ':' in dict")
			}
			p.i++
			if v, err = p.value(depth + 1); err != nil {
				return nil, err
			}
			m[k] = v
		} else {
			list = append(list, v)
		}
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		} else if p.i >= len(p.s) || p.s[p.i] != end {
			return nil, fmt.Errorf("expected ',' or %q", end)
		}
	}
}

// decodeNPY reads a .npy file from r, whose length is at most limit bytes
// (an exact file size, or what a compressed zip member can hold): the data
// are read into buffers of their final size, allocated once, and only when
// the input can hold what the header declares.
func decodeNPY(r io.Reader, limit int64) (*array, error) {
	h, err := readNPYHeader(r)
	if err != nil {
		return nil, err
	}
	t, err := parseDescr(h.descr)
	if err != nil {
		return nil, err
	}
	a := &array{shape: h.shape, descr: h.descr}
	body := h.values * uint64(t.size)
	have := limit - h.length
	if have < 0 || body > uint64(have) {
		return nil, truncatedData(h, body, max(have, 0))
	}
	switch {
	case t.kind == 'u' && t.size == 1:
		a.u8 = make([]byte, body)
		if n, err := io.ReadFull(r, a.u8); err != nil {
			return nil, readError(err, h, body, n)
		}
	case t.kind == 'f':
		a.f32 = make([]float32, h.values)
		if err := readValues(r, t, h, body, func(i int, b []byte) {
			if t.size == 4 {
				a.f32[i] = math.Float32frombits(t.order.Uint32(b))
			} else {
				a.f32[i] = float32(math.Float64frombits(t.order.Uint64(b)))
			}
		}); err != nil {
			return nil, err
		}
	default:
		a.ints = make([]int, h.values)
		var overflow bool
		if err := readValues(r, t, h, body, func(i int, b []byte) {
			var v uint64
			switch t.size {
			case 1:
				v = uint64(b[0])
			case 2:
				v = uint64(t.order.Uint16(b))
			case 4:
				v = uint64(t.order.Uint32(b))
			default:
				v = t.order.Uint64(b)
			}
			if t.kind == 'i' { // sign-extend
				shift := 64 - 8*t.size
				a.ints[i] = int(int64(v<<shift) >> shift)
			} else {
				a.ints[i] = int(v)
				overflow = overflow || v > math.MaxInt64
			}
		}); err != nil {
			return nil, err
		}
		if overflow {
			return nil, fmt.Errorf("%s values above 2⁶³−1", h.descr)
		}
	}
	// Anything after the data is a damaged or foreign file; reading to the
	// end also lets a zip member verify its checksum.
	var extra [1]byte
	if n, err := io.ReadFull(r, extra[:]); n > 0 {
		return nil, fmt.Errorf("trailing data after the %d bytes of shape %s %s", body, shapeString(h.shape), h.descr)
	} else if !isEOF(err) {
		return nil, err
	}
	if h.fortran && len(h.shape) > 1 {
		a.toCOrder()
	}
	return a, nil
}

// readValues reads body bytes of values of type t through a small buffer,
// calling set for each value in file order.
func readValues(r io.Reader, t dtype, h *npyHeader, body uint64, set func(i int, b []byte)) error {
	buf := make([]byte, t.size*8192)
	i := 0
	for done := uint64(0); done < body; {
		chunk := buf[:min(uint64(len(buf)), body-done)]
		if n, err := io.ReadFull(r, chunk); err != nil {
			return readError(err, h, body, int(done)+n)
		}
		for k := 0; k < len(chunk); k += t.size {
			set(i, chunk[k:k+t.size])
			i++
		}
		done += uint64(len(chunk))
	}
	return nil
}

func readError(err error, h *npyHeader, body uint64, got int) error {
	if isEOF(err) {
		return truncatedData(h, body, int64(got))
	}
	return err
}

func truncatedData(h *npyHeader, body uint64, have int64) error {
	return fmt.Errorf("truncated data: header declares shape %s of %s (%d bytes), file has %d", shapeString(h.shape), h.descr, body, have)
}

func shapeString(shape []int) string {
	s := make([]string, len(shape))
	for i, d := range shape {
		s[i] = strconv.Itoa(d)
	}
	if len(s) == 1 {
		return "(" + s[0] + ",)"
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// toCOrder reorders Fortran-order data (first index fastest) into C order
// (last index fastest), the layout of one example per row.
func (a *array) toCOrder() {
	n, d := a.shape[0], product(a.shape[1:])
	// q[c] is where, among the trailing indices in Fortran order, the
	// trailing index tuple of C offset c lies.
	q := make([]int, d)
	trail := a.shape[1:]
	idx := make([]int, len(trail))
	for c := range d {
		f, stride := 0, 1
		for k := range trail {
			f += idx[k] * stride
			stride *= trail[k]
		}
		q[c] = f
		for k := len(trail) - 1; k >= 0; k-- { // next C-order tuple
			if idx[k]++; idx[k] < trail[k] {
				break
			}
			idx[k] = 0
		}
	}
	if a.u8 != nil {
		a.u8 = transpose(a.u8, q, n, d)
	} else if a.f32 != nil {
		a.f32 = transpose(a.f32, q, n, d)
	} else {
		a.ints = transpose(a.ints, q, n, d)
	}
}

// transpose returns dst with dst[i·d+c] = src[i + n·q[c]], in blocks of
// examples that keep the writes within the cache.
func transpose[T any](src []T, q []int, n, d int) []T {
	dst := make([]T, len(src))
	const block = 64
	for i0 := 0; i0 < n; i0 += block {
		i1 := min(i0+block, n)
		for c, qc := range q {
			col := src[n*qc+i0 : n*qc+i1]
			for k, v := range col {
				dst[(i0+k)*d+c] = v
			}
		}
	}
	return dst
}

// readNPYFile reads the .npy file at path.
func readNPYFile(path string) (*array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	a, err := decodeNPY(bufio.NewReaderSize(f, 1<<16), st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// examples makes the array a Set: the first axis counts examples, the
// others are one example's shape; name names the array in messages
// ("x_train" in an .npz file, "" for a .npy file).
func (a *array) examples(source, name string) (*Set, error) {
	if len(a.shape) == 0 {
		return nil, fmt.Errorf("%s: a 0-dimensional array (one number), want examples along the first axis", source)
	}
	if a.shape[0] == 0 {
		return nil, fmt.Errorf("%s: shape %s: no examples", source, shapeString(a.shape))
	}
	shape := append([]int(nil), a.shape[1:]...)
	if len(shape) == 0 {
		shape = []int{1}
	}
	if product(shape) == 0 {
		return nil, fmt.Errorf("%s: shape %s: examples of no values", source, shapeString(a.shape))
	}
	var s *Set
	switch {
	case a.u8 != nil:
		s = newBytesSet(shape, a.u8, source)
	case a.f32 != nil:
		s = newFloatSet(shape, a.f32, source)
	default:
		return nil, fmt.Errorf("%s: dtype %s: integer data other than uint8 is not supported (want uint8, float32 or float64)", source, a.descr)
	}
	full := a.shape
	s.locate = func(i, j int) string {
		idx := make([]string, len(full))
		idx[0] = strconv.Itoa(i)
		for k := len(full) - 1; k >= 1; k-- {
			idx[k] = strconv.Itoa(j % full[k])
			j /= full[k]
		}
		if name == "" {
			return fmt.Sprintf("example %d (index [%s])", i, strings.Join(idx, ", "))
		}
		return fmt.Sprintf("example %d (%s[%s])", i, name, strings.Join(idx, ", "))
	}
	return s, nil
}

// labels makes the array a list of labels: integers, one per example
// (shape [N] or [N, 1]).
func (a *array) labels(source string) ([]int, error) {
	if len(a.shape) == 0 || len(a.shape) > 2 || (len(a.shape) == 2 && a.shape[1] != 1) {
		return nil, fmt.Errorf("%s: labels of shape %s, want one per example: (N,) or (N, 1)", source, shapeString(a.shape))
	}
	switch {
	case a.ints != nil:
		return a.ints, nil
	case a.u8 != nil:
		l := make([]int, len(a.u8))
		for i, b := range a.u8 {
			l[i] = int(b)
		}
		return l, nil
	}
	return nil, fmt.Errorf("%s: labels of dtype %s, want integers", source, a.descr)
}

// WriteNPY writes a C-order .npy file (format version 1.0) of the given
// shape holding data: uint8 ("|u1") for a []byte, little-endian float32
// ("<f4") for a []float32.
func WriteNPY(w io.Writer, shape []int, data any) error {
	var descr string
	var n int
	switch d := data.(type) {
	case []byte:
		descr, n = "|u1", len(d)
	case []float32:
		descr, n = "<f4", len(d)
	default:
		return fmt.Errorf("dataset: WriteNPY: data of type %T, want []byte or []float32", data)
	}
	if product(shape) != n || len(shape) == 0 {
		return fmt.Errorf("dataset: WriteNPY: %d values do not fill shape %v", n, shape)
	}
	dims := make([]string, len(shape))
	for i, v := range shape {
		dims[i] = strconv.Itoa(v)
	}
	tuple := strings.Join(dims, ", ")
	if len(dims) == 1 {
		tuple += ","
	}
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	// Pad so that the data start on a multiple of 64 bytes, as NumPy does.
	total := len(npyMagic) + 4 + len(hdr) + 1
	hdr += strings.Repeat(" ", (64-total%64)%64) + "\n"
	if len(hdr) > math.MaxUint16 {
		return fmt.Errorf("dataset: WriteNPY: shape %v: header too long", shape)
	}
	b := append([]byte(npyMagic), 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	b = append(b, hdr...)
	if _, err := w.Write(b); err != nil {
		return err
	}
	switch d := data.(type) {
	case []byte:
		_, err := w.Write(d)
		return err
	case []float32:
		buf := make([]byte, 0, 1<<16)
		for i, v := range d {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) || i == len(d)-1 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	return nil
}
