//go:build amd64 && gc && !purego && !noasm

package kernels

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// amd64Baseline are the features of avo's Requires lines that every amd64
// CPU has (GOAMD64=v1): MMX+ is avo's name for PREFETCHT0's.
var amd64Baseline = []string{"CMOV", "MMX+", "SSE", "SSE2"}

// asmFunc is one TEXT of the generated assembly.
type asmFunc struct {
	file, name string
	requires   []string // its "// Requires:" line, without amd64Baseline
	lines      []string // its body, with line numbers in file
}

// asmFuncs reads every TEXT of the generated files.
func asmFuncs(t *testing.T) []asmFunc {
	t.Helper()
	files, err := filepath.Glob("*_amd64.s")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var fns []asmFunc
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		var requires []string
		for i, line := range strings.Split(string(src), "\n") {
			if r, ok := strings.CutPrefix(line, "// Requires: "); ok {
				requires = nil
				for _, feat := range strings.Split(r, ", ") {
					if !slices.Contains(amd64Baseline, feat) {
						requires = append(requires, feat)
					}
				}
				continue
			}
			if strings.HasPrefix(line, "TEXT ") {
				name := strings.TrimSuffix(strings.TrimPrefix(strings.Fields(line)[1], "·"), "(SB),")
				fns = append(fns, asmFunc{file: f, name: name, requires: requires})
				requires = nil
				continue
			}
			if len(fns) > 0 {
				fns[len(fns)-1].lines = append(fns[len(fns)-1].lines, f+":"+itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
	}
	return fns
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestAssemblyRegistersWithoutAVX512 guards against the register allocator
// of the generators reaching for X16–X31, Y16–Y31, ZMM or opmask registers
// in code meant for machines without AVX-512, which lack them (avo allocates
// them when more than 16 vector registers are live): every TEXT whose name
// does not say AVX512.
func TestAssemblyRegistersWithoutAVX512(t *testing.T) {
	bad := regexp.MustCompile(`\b([XY](1[6-9]|2[0-9]|3[01])|Z[0-9]+|K[0-7])\b`)
	checked := 0
	for _, fn := range asmFuncs(t) {
		if strings.Contains(fn.name, "AVX512") {
			continue
		}
		checked++
		for _, line := range fn.lines {
			if bad.MatchString(line) {
				assert.Failf(t, "AVX-512 register in code for AVX2 machines", "%s (%s)", line, fn.name)
			}
		}
	}
	assert.Greater(t, checked, 10, "TEXTs checked")
}

// TestRequiredFeatures checks that the CPU features the generated files'
// Requires lines name, over the TEXTs a kernel set uses, are exactly the
// features dispatch demands for it: a TEXT named AVX512 belongs to the
// avx512 set, every other one to both (avx512 reuses the AVX2 kernels and
// GEMM tiles).
func TestRequiredFeatures(t *testing.T) {
	fns := asmFuncs(t)
	for _, im := range archImplementations() {
		var want []string
		for _, f := range im.needs {
			want = append(want, f.String())
		}
		var got []string
		for _, fn := range fns {
			if strings.Contains(fn.name, "AVX512") && im.name != "avx512" {
				continue
			}
			require.NotEmpty(t, fn.requires, "%s: %s has no Requires line", fn.file, fn.name)
			for _, r := range fn.requires {
				assert.Contains(t, want, r, "%s: %s requires %s, which dispatch does not demand for %s", fn.file, fn.name, r, im.name)
				got = append(got, r)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		assert.Equal(t, want, slices.Compact(got), "features of the %s set's assembly", im.name)
	}
}
