package main

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"strings"

	"github.com/fastvae/fastvae/asm/internal/avx"
)

// writeTable writes the Go table of the emitted tiles to path.
func writeTable(path string, tiles []emitted) error {
	var b bytes.Buffer
	b.WriteString(avx.Header() + "\n\n")
	b.WriteString("//go:build amd64 && gc && !purego && !noasm\n\npackage kernels\n\n")
	b.WriteString("// gemmTiles lists every micro-kernel in gemm_amd64.s, with the number of\n")
	b.WriteString("// ZMM and YMM vectors a row of its tile takes.\n")
	b.WriteString("var gemmTiles = []*gemmTile{\n")
	for _, e := range tiles {
		var zmm, ymm int
		for _, w := range e.t.parts {
			if w == 16 {
				zmm++
			} else {
				ymm++
			}
		}
		fmt.Fprintf(&b, "\t{name: %q, isa: %q, mr: %d, nr: %d, zmm: %d, ymm: %d,\n", e.t.shape(), strings.ToLower(e.t.isa.String()), e.t.mr, e.t.nr(), zmm, ymm)
		fmt.Fprintf(&b, "\t\tkernel: %s, kernelAT: %s,\n\t\tkernelAN: %s},\n", e.names[aPacked], e.names[aTrans], e.names[aRows])
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return fmt.Errorf("format %s: %w", path, err)
	}
	return os.WriteFile(path, src, 0o644)
}
