package vae

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// This file reads and writes the safetensors format: an 8-byte
// little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
// data that follows the header) plus an optional "__metadata__" map of
// strings, then the tensors' raw little-endian bytes. As the reference
// writer does, the header is padded with spaces to a multiple of 8 bytes and
// tensors are laid out by decreasing dtype size, then by name.

// maxHeader bounds the JSON header, as the reference implementation does
// (100 MB), so that a corrupt length cannot make us read or allocate more.
const maxHeader = 100 << 20

// dtypeSize gives the element size of the dtypes fastvae reads and writes.
var dtypeSize = map[string]int{"F32": 4, "I64": 8}

// stTensor is one tensor of a safetensors file.
type stTensor struct {
	name  string
	dtype string
	shape []int
	data  []byte // little-endian elements, len = size·Π shape
}

// stFile is a parsed safetensors file; tensor data are views of the file.
type stFile struct {
	meta    map[string]string
	tensors map[string]*stTensor
}

// writeSafetensors writes tensors and meta to w.
func writeSafetensors(w io.Writer, meta map[string]string, tensors []*stTensor) error {
	order := slices.Clone(tensors)
	slices.SortStableFunc(order, func(a, b *stTensor) int {
		if d := dtypeSize[b.dtype] - dtypeSize[a.dtype]; d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	type entry struct {
		Dtype   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	off := 0
	for _, t := range order {
		if _, dup := header[t.name]; dup || t.name == "__metadata__" {
			return fmt.Errorf("duplicate tensor name %q", t.name)
		}
		shape := t.shape
		if shape == nil {
			shape = []int{}
		}
		header[t.name] = entry{t.dtype, shape, [2]int{off, off + len(t.data)}}
		off += len(t.data)
	}
	js, err := json.Marshal(header) // maps marshal with sorted keys: stable output
	if err != nil {
		return err
	}
	if pad := (8 - len(js)%8) % 8; pad > 0 {
		js = append(js, bytes.Repeat([]byte{' '}, pad)...)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	for _, t := range order {
		if _, err := w.Write(t.data); err != nil {
			return err
		}
	}
	return nil
}

// parseSafetensors parses and validates a whole file: header length, JSON
// syntax, duplicate names, dtypes, shapes, and offsets that must tile the
// data exactly (in range, no overlap, no gap, nothing after the last).
func parseSafetensors(b []byte) (*stFile, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length (truncated?)", len(b))
	}
	hlen := binary.LittleEndian.Uint64(b)
	if hlen > maxHeader {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte limit (not a safetensors file?)", hlen, maxHeader)
	}
	if hlen > uint64(len(b)-8) {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes after it (truncated?)", hlen, len(b)-8)
	}
	header, data := b[8:8+hlen], b[8+hlen:]
	if len(header) == 0 || header[0] != '{' {
		return nil, errors.New("header does not start with '{' (not a safetensors file?)")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("header is not a JSON object: %v", err)
	}
	f := &stFile{tensors: map[string]*stTensor{}}
	type span struct {
		name       string
		begin, end int
	}
	var spans []span
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("header JSON: %w", err)
		}
		name, _ := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, fmt.Errorf("header names %q twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&f.meta); err != nil {
				return nil, fmt.Errorf("__metadata__ is not a map of strings: %w", err)
			}
			continue
		}
		var e struct {
			Dtype   *string  `json:"dtype"`
			Shape   *[]int64 `json:"shape"`
			Offsets *[]int64 `json:"data_offsets"`
		}
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		if e.Dtype == nil || e.Shape == nil || e.Offsets == nil {
			return nil, fmt.Errorf("tensor %q: needs dtype, shape and data_offsets", name)
		}
		size, ok := dtypeSize[*e.Dtype]
		if !ok {
			return nil, fmt.Errorf("tensor %q: dtype %q not supported (fastvae reads F32 and I64)", name, *e.Dtype)
		}
		nbytes := int64(size) // saturates at MaxInt64, which no data length matches
		shape := make([]int, len(*e.Shape))
		for i, d := range *e.Shape {
			if d < 0 || d > math.MaxInt32 {
				return nil, fmt.Errorf("tensor %q: shape %v has a dimension out of range", name, *e.Shape)
			}
			shape[i] = int(d)
			if d != 0 && nbytes > math.MaxInt64/d {
				nbytes = math.MaxInt64
			} else {
				nbytes *= d
			}
		}
		if len(*e.Offsets) != 2 {
			return nil, fmt.Errorf("tensor %q: data_offsets %v is not [begin, end]", name, *e.Offsets)
		}
		begin, end := (*e.Offsets)[0], (*e.Offsets)[1]
		if begin < 0 || end < begin {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] are reversed or negative", name, begin, end)
		}
		if end > int64(len(data)) {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] beyond the %d data bytes (truncated?)", name, begin, end, len(data))
		}
		if end-begin != nbytes {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] hold %d bytes, but %s%v needs %d", name, begin, end, end-begin, *e.Dtype, shape, nbytes)
		}
		f.tensors[name] = &stTensor{name: name, dtype: *e.Dtype, shape: shape, data: data[begin:end]}
		spans = append(spans, span{name, int(begin), int(end)})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("header has data after its JSON object")
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.begin != b.begin {
			return a.begin - b.begin
		}
		return a.end - b.end
	})
	pos, prev := 0, ""
	for _, s := range spans {
		switch {
		case s.begin < pos:
			return nil, fmt.Errorf("tensors %q and %q overlap", prev, s.name)
		case s.begin > pos:
			return nil, fmt.Errorf("data bytes [%d, %d) belong to no tensor", pos, s.begin)
		}
		pos, prev = s.end, s.name
	}
	if pos != len(data) {
		return nil, fmt.Errorf("%d data bytes after the last tensor", len(data)-pos)
	}
	return f, nil
}

// f32Bytes encodes v as little-endian float32s.
func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// readF32 decodes little-endian float32s from b into dst (len(b) = 4·len(dst)).
func readF32(dst []float32, b []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}
