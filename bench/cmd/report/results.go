package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// A run is one results file as make bench writes it: file-level
// configuration, the comment lines the peers leave, and every benchmark.
type run struct {
	config   map[string]string // first value of each file-level key
	comments []string          // "# ..." lines, in order, without the "# "
	benches  []*bench          // in order of first appearance
	badNames []string          // names not in the house form (see checkName)
}

// A bench is one benchmark function of one package, laid out as a table:
// its results are split into columns by implementation (the impl and
// variant keys) and into rows by every other key of the name.
type bench struct {
	pkg, name string
	keys      []string // row keys in order of first appearance
	cols      []column
	rows      []string // the row's key values joined by "\x00"
	cells     map[cellKey]map[string][]float64
}

// A column is one implementation, or one variant of it (variant=unfused is
// the same work done the way a framework does it; variant=copy a memmove of
// as many bytes).
type column struct{ impl, variant string }

type cellKey struct {
	row string
	col column
}

// peerImpls are implementations that are not fastvae's, and peerVariants
// reference variants of fastvae's own; ratios are taken against both.
var (
	peerImpls    = []string{"gonum", "openblas", "torch", "go"}
	peerVariants = []string{"unfused", "copy"}
)

func (c column) peer() bool {
	return slices.Contains(peerImpls, c.impl) || slices.Contains(peerVariants, c.variant)
}

func (c column) String() string {
	if c.variant == "" || c.variant == "fused" {
		return c.impl
	}
	if c.impl == "" {
		return c.variant
	}
	return c.impl + " " + c.variant
}

// readRun reads a Go benchmark file with golang.org/x/perf/benchfmt.
func readRun(r io.Reader, name string) (*run, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	res := &run{config: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if c, ok := strings.CutPrefix(sc.Text(), "# "); ok {
			res.comments = append(res.comments, c)
		}
	}
	index := map[[2]string]*bench{}
	rd := benchfmt.NewReader(bytes.NewReader(data), name)
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			return nil, rec
		case *benchfmt.Result:
			for _, c := range rec.Config {
				if _, ok := res.config[c.Key]; !ok && c.File {
					res.config[c.Key] = string(c.Value)
				}
			}
			pkg := rec.GetConfig("pkg")
			base, parts := rec.Name.Parts()
			id := [2]string{pkg, string(base)}
			b := index[id]
			if b == nil {
				b = &bench{pkg: pkg, name: string(base), cells: map[cellKey]map[string][]float64{}}
				index[id] = b
				res.benches = append(res.benches, b)
			}
			b.add(parts, rec.Values)
			if msg := checkName(parts); msg != "" && !slices.Contains(res.badNames, rec.Name.String()+": "+msg) {
				res.badNames = append(res.badNames, rec.Name.String()+": "+msg)
			}
		}
	}
	if err := rd.Err(); err != nil {
		return nil, err
	}
	if len(res.benches) == 0 {
		return nil, fmt.Errorf("%s: no benchmark results", name)
	}
	return res, nil
}

// checkName returns what is wrong with a benchmark name's parts, or "":
// every part after the base name is key=value (benchstat's sub-benchmark
// configuration form) and impl= is one of them, so that results pivot by
// implementation.
func checkName(parts [][]byte) string {
	impl := false
	for i, p := range parts {
		s := string(p)
		if strings.HasPrefix(s, "-") && i == len(parts)-1 {
			continue
		}
		k, _, ok := strings.Cut(strings.TrimPrefix(s, "/"), "=")
		if !ok {
			return fmt.Sprintf("part %q is not key=value", strings.TrimPrefix(s, "/"))
		}
		impl = impl || k == "impl"
	}
	if !impl {
		return "no impl= part"
	}
	return ""
}

// add files one result under its row and column.
func (b *bench) add(parts [][]byte, values []benchfmt.Value) {
	var col column
	var vals []string
	kv := map[string]string{}
	for i, p := range parts {
		s := string(p)
		if strings.HasPrefix(s, "-") && i == len(parts)-1 {
			continue // GOMAXPROCS, the same for the whole run
		}
		s = strings.TrimPrefix(s, "/")
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			k, v = "sub", s // a positional part: keep it as a row key
		}
		switch k {
		case "impl":
			col.impl = v
		case "variant":
			col.variant = v
		default:
			if !slices.Contains(b.keys, k) {
				b.keys = append(b.keys, k)
			}
			kv[k] = v
		}
	}
	for _, k := range b.keys {
		vals = append(vals, kv[k])
	}
	row := strings.Join(vals, "\x00")
	if !slices.Contains(b.rows, row) {
		b.rows = append(b.rows, row)
	}
	if !slices.Contains(b.cols, col) {
		b.cols = append(b.cols, col)
	}
	key := cellKey{row, col}
	cell := b.cells[key]
	if cell == nil {
		cell = map[string][]float64{}
		b.cells[key] = cell
	}
	for _, v := range values {
		cell[v.Unit] = append(cell[v.Unit], v.Value)
	}
}

// rowValues returns the values of row's keys, one per b.keys; rows seen
// before a later key appeared have "" for it.
func (b *bench) rowValues(row string) []string {
	vals := strings.Split(row, "\x00")
	for len(vals) < len(b.keys) {
		vals = append(vals, "")
	}
	return vals
}

// metric is the unit a bench's main table shows: its custom throughput when
// it reports one, then bytes per second, then time.
func (b *bench) metric() string {
	for _, unit := range []string{"GFLOP/s", "images/s", "B/s", "sec/op"} {
		if b.has(unit) {
			return unit
		}
	}
	return "sec/op"
}

// metrics are the units a bench gets tables for: the main one, then any
// other custom metric it reports (e.g. GFLOP/cpu-s), alphabetically, except
// those that are the main one times a constant (Gelem/s beside B/s), which
// would only repeat its table.
func (b *bench) metrics() []string {
	main := b.metric()
	var extra []string
	for _, cell := range b.cells {
		for unit := range cell {
			switch unit {
			case main, "sec/op", "B/op", "allocs/op", "B/s":
				continue
			}
			if !slices.Contains(extra, unit) && !b.proportional(unit, main) {
				extra = append(extra, unit)
			}
		}
	}
	slices.Sort(extra)
	return append([]string{main}, extra...)
}

// proportional reports whether every result's value in unit is the same
// multiple of its value in main, up to the rounding of go test's output.
func (b *bench) proportional(unit, main string) bool {
	ratio := 0.0
	for _, cell := range b.cells {
		u, m := cell[unit], cell[main]
		if len(u) != len(m) {
			return false
		}
		for i := range u {
			if m[i] == 0 {
				return false
			}
			r := u[i] / m[i]
			if ratio == 0 {
				ratio = r
			} else if math.Abs(r/ratio-1) > 2e-3 {
				return false
			}
		}
	}
	return ratio != 0
}

func (b *bench) has(unit string) bool {
	for _, cell := range b.cells {
		if _, ok := cell[unit]; ok {
			return true
		}
	}
	return false
}

// ours and peers split the columns, each in order of first appearance.
func (b *bench) ours() []column  { return filterCols(b.cols, false) }
func (b *bench) peers() []column { return filterCols(b.cols, true) }

func filterCols(cols []column, peer bool) []column {
	var out []column
	for _, c := range cols {
		if c.peer() == peer {
			out = append(out, c)
		}
	}
	return out
}

// pairs lists the (ours, peer) columns a table shows ratios for: every
// fastvae implementation against every other program, and against its own
// unfused variant (not another implementation's).
func (b *bench) pairs() [][2]column {
	var out [][2]column
	for _, o := range b.ours() {
		for _, p := range b.peers() {
			if p.impl == "" || slices.Contains(peerImpls, p.impl) || p.impl == o.impl {
				out = append(out, [2]column{o, p})
			}
		}
	}
	return out
}
