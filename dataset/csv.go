package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CSVOptions says how to read a CSV file.
type CSVOptions struct {
	// Header says the first row names the columns. Without it the first
	// row is taken as a header when it has a field that is not a number in
	// a column whose second row is one.
	Header bool
	// LabelColumn, when not empty, names the column that holds the labels
	// (by its header name, or by its 0-based index); it is left out of the
	// values. Labels are integers, or strings numbered as they first
	// appear (after Classes).
	LabelColumn string
	// Classes are label names already numbered (by the training data), so
	// that a test file numbers them alike.
	Classes []string
}

// readCSV reads the CSV file at path.
func readCSV(path string, o CSVOptions) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := decodeCSV(f, path, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// decodeCSV reads numeric rows separated by ',', ';' or tabs (whichever
// the first line has most of; .tsv files are tab-separated).
func decodeCSV(r io.Reader, path string, o CSVOptions) (*Set, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3) // a byte-order mark, as spreadsheets write
	}
	cr := csv.NewReader(br)
	cr.Comma = sniffSeparator(br, path)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // checked here, to say it our way
	var first, second []string
	var firstLine, secondLine int
	next := func() ([]string, int, error) {
		rec, err := cr.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, 0, fmt.Errorf("line %d: %v", pe.Line, pe.Err)
			}
			return nil, 0, err
		}
		line, _ := cr.FieldPos(0)
		return rec, line, nil
	}
	rec, line, err := next()
	if err == io.EOF {
		return nil, errors.New("empty file, want rows of numbers")
	} else if err != nil {
		return nil, err
	}
	first, firstLine = append([]string(nil), rec...), line
	rec, line, err = next()
	if err != nil && err != io.EOF {
		return nil, err
	}
	if err == nil {
		second, secondLine = append([]string(nil), rec...), line
	}
	ncol := len(first)
	label := -1
	if o.LabelColumn != "" {
		for j, name := range first {
			if strings.TrimSpace(name) == o.LabelColumn && !isNumber(name) {
				label, o.Header = j, true
			}
		}
		if label < 0 {
			k, err := strconv.Atoi(o.LabelColumn)
			switch {
			case err != nil:
				return nil, fmt.Errorf("no column named %q (the header is %s)", o.LabelColumn, headerList(first))
			case k < 0 || k >= ncol:
				return nil, fmt.Errorf("label column %d: the rows have %d columns (0 to %d)", k, ncol, ncol-1)
			}
			label = k
		}
	}
	header := o.Header || (second != nil && looksLikeHeader(first, second, label))
	if header && second == nil {
		return nil, fmt.Errorf("line %d: a header and no rows of numbers", firstLine)
	}
	var columns []string
	if header {
		for j, name := range first {
			if j != label {
				columns = append(columns, strings.TrimSpace(name))
			}
		}
	}
	dim := ncol
	if label >= 0 {
		dim--
	}
	if dim == 0 {
		return nil, errors.New("no columns of values besides the label")
	}
	colName := func(j int) string {
		if header {
			return fmt.Sprintf("column %d (%q)", j, strings.TrimSpace(first[j]))
		}
		return fmt.Sprintf("column %d", j)
	}
	var values []float32
	var lines []int32
	classes := newClassIndex(o.Classes)
	var ids []int
	row := func(rec []string, line int) error {
		if len(rec) != ncol {
			return fmt.Errorf("line %d: %d fields, but line %d has %d", line, len(rec), firstLine, ncol)
		}
		for j, field := range rec {
			field = strings.TrimSpace(field)
			if j == label {
				if field == "" {
					return fmt.Errorf("line %d, %s: an empty label", line, colName(j))
				}
				ids = append(ids, classes.id(field))
				continue
			}
			v, err := strconv.ParseFloat(field, 32)
			switch {
			case field == "":
				return fmt.Errorf("line %d, %s: an empty field (missing values are not supported)", line, colName(j))
			case err != nil && errors.Is(err, strconv.ErrRange):
				return fmt.Errorf("line %d, %s: %q is out of the float32 range", line, colName(j), field)
			case err != nil:
				hint := ""
				if label < 0 {
					hint = " (a column of names can be the labels: give it as the label column)"
				}
				return fmt.Errorf("line %d, %s: %q is not a number%s", line, colName(j), field, hint)
			case math.IsNaN(v) || math.IsInf(v, 0):
				return fmt.Errorf("line %d, %s: %s is not allowed (data must be finite)", line, colName(j), field)
			}
			values = append(values, float32(v))
		}
		lines = append(lines, int32(min(line, math.MaxInt32)))
		return nil
	}
	if !header {
		if err := row(first, firstLine); err != nil {
			return nil, err
		}
	}
	if second != nil {
		if err := row(second, secondLine); err != nil {
			return nil, err
		}
		for {
			rec, line, err := next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			if err := row(rec, line); err != nil {
				return nil, err
			}
		}
	}
	s := newFloatSet([]int{dim}, values, path)
	s.Columns = columns
	s.locate = func(i, j int) string {
		if label >= 0 && j >= label {
			j++
		}
		return fmt.Sprintf("line %d, %s", lines[i], colName(j))
	}
	if label >= 0 {
		s.Labels, s.Classes = integerLabels(ids, classes.names, len(o.Classes))
	}
	return s, nil
}

// integerLabels returns the labels as the integers they spell when every
// class name is one (and no names were given), else the class numbers and
// their names.
func integerLabels(ids []int, names []string, known int) ([]int, []string) {
	if known == 0 {
		nums := make([]int, len(names))
		ok := true
		for i, n := range names {
			v, err := strconv.Atoi(n)
			if err != nil {
				ok = false
				break
			}
			nums[i] = v
		}
		if ok {
			labels := make([]int, len(ids))
			for i, id := range ids {
				labels[i] = nums[id]
			}
			return labels, nil
		}
	}
	return ids, names
}

// looksLikeHeader reports whether the first row names columns: it has a
// field that is not a number where the second row has one (the label
// column aside, which may hold names in every row).
func looksLikeHeader(first, second []string, label int) bool {
	for j := range min(len(first), len(second)) {
		if j != label && !isNumber(first[j]) && isNumber(second[j]) {
			return true
		}
	}
	return false
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil || errors.Is(err, strconv.ErrRange)
}

func headerList(first []string) string {
	q := make([]string, 0, len(first))
	for _, f := range first[:min(len(first), 12)] {
		q = append(q, strconv.Quote(strings.TrimSpace(f)))
	}
	if len(first) > 12 {
		q = append(q, "…")
	}
	return strings.Join(q, ", ")
}

// sniffSeparator picks the separator of the first line: the one of ',', ';'
// and tab it has most of (',' when it has none); tab for .tsv files.
func sniffSeparator(br *bufio.Reader, path string) rune {
	if strings.EqualFold(filepath.Ext(path), ".tsv") {
		return '\t'
	}
	b, _ := br.Peek(br.Size())
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	best, n := ',', bytes.Count(b, []byte{','})
	for _, c := range []rune{';', '\t'} {
		if k := bytes.Count(b, []byte{byte(c)}); k > n {
			best, n = c, k
		}
	}
	return best
}

// WriteCSV writes x, rows of dim values, as CSV: a header of columns
// first when columns is not nil, then one line per row, each value in the
// shortest form that reads back as the same float32.
func WriteCSV(w io.Writer, columns []string, x []float32, dim int) error {
	if dim <= 0 || len(x)%dim != 0 || (columns != nil && len(columns) != dim) {
		return fmt.Errorf("dataset: WriteCSV: %d values, %d columns named, rows of %d", len(x), len(columns), dim)
	}
	bw := bufio.NewWriter(w)
	if columns != nil {
		cw := csv.NewWriter(bw)
		if err := cw.Write(columns); err != nil {
			return err
		}
		cw.Flush()
	}
	var buf []byte
	for i := 0; i < len(x); i += dim {
		buf = buf[:0]
		for j, v := range x[i : i+dim] {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, float64(v), 'g', -1, 32)
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
