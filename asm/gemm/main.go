// Command gemm generates the SGEMM micro-kernels and the packing routines of
// package kernels (gemm_amd64.s and its stubs), and the table of the tiles it
// emitted (gemm_tiles_amd64.go), from which package kernels chooses: a tile is
// described once, here.
//
// A micro-kernel computes an mr×nr tile of C from k steps of a panel of A and
// a packed panel of B (b[p*nr+j]); A is packed (a[p*mr+i]) or, in the AT and
// AN forms, read in place, transposed (a[p*lda+i]) or as stored
// (a[i*lda+p]). Every element of the tile is one chain of fused
// multiply-adds over p in order, started from 0 or from beta·C:
//
//	acc = beta·c (0 when beta is ±0, and C is then not read)
//	acc = fma(a_ip, b_pj, acc) for p = 0, 1, …, k−1
//	c = acc
//
// so a product cut into k blocks (each later block starts from the C the
// previous one wrote, with beta 1) rounds exactly like one long chain: results
// depend neither on the tile, nor on the blocking, nor on the thread count.
// Only the rows×cols corner of a tile is read or written.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/fastvae/fastvae/asm/internal/avx"
	. "github.com/mmcloughlin/avo/build"
)

var tilesOut = flag.String("tiles", "", "write the Go table of the generated tiles to this file")

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")
	laneIndex := laneIndexData()
	var done []emitted
	for _, t := range tiles {
		done = append(done, t.emit(laneIndex))
	}
	packTranspose(8)
	packTranspose(4)
	packCopy()
	avx.Generate()
	if *tilesOut != "" {
		if err := writeTable(*tilesOut, done); err != nil {
			fmt.Fprintln(os.Stderr, "gemm:", err)
			os.Exit(1)
		}
	}
}

// tiles are the micro-kernels generated, per instruction set.
//
// AVX-512: full-ZMM tiles for cores with two 512-bit FMA pipes (Intel's
// server cores, Zen 5), where every FMA instruction costs a slot whatever its
// width; 5×80 and 8×48 pad the VAE's 400- and 784-column products by at
// most 4%, 12×32 suits everything else. The mixed tiles (ZMM and one YMM
// vector a row) suit Zen 4, which splits a ZMM FMA into two YMM halves, so a
// YMM FMA costs half: 8×40 covers 400 columns exactly, 12×24 the narrow
// products.
//
// AVX2: sixteen YMM registers hold 12 accumulators, the B vectors and a
// broadcast: 6×16 and 4×24.
var tiles = []tile{
	{isa: avx512, mr: 12, parts: []int{16, 16}},
	{isa: avx512, mr: 8, parts: []int{16, 16, 16}},
	{isa: avx512, mr: 5, parts: []int{16, 16, 16, 16, 16}},
	{isa: avx512, mr: 12, parts: []int{16, 8}},
	{isa: avx512, mr: 8, parts: []int{16, 16, 8}},
	{isa: avx2, mr: 6, parts: []int{8, 8}},
	{isa: avx2, mr: 4, parts: []int{8, 8, 8}},
}
