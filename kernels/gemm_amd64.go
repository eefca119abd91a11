//go:build amd64 && gc && !purego && !noasm

package kernels

import (
	"fmt"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// fmaClass is how a core executes vector FMAs, which decides which tiles
// are fast on it.
type fmaClass int

const (
	// fmaYMM: two 256-bit FMA pipes (Haswell and later Intel client cores,
	// Zen 1–3). Only the AVX2 tiles run.
	fmaYMM fmaClass = iota
	// fmaZMMHalves: a ZMM FMA is executed as two 256-bit halves (Zen 4,
	// which double-pumps AVX-512; Intel client cores with AVX-512 and one
	// 512-bit FMA port). A YMM FMA costs half a ZMM one, so the mixed
	// tiles, whose rows end in a YMM vector, waste nothing on 40 or 24
	// columns.
	fmaZMMHalves
	// fmaZMMFull: two 512-bit FMA pipes (Intel's server cores from
	// Skylake-SP to Granite Rapids, Zen 5). Every FMA instruction takes a
	// slot whatever its width, so only full-ZMM rows reach the peak, which
	// is twice that of YMM.
	fmaZMMFull
)

func (c fmaClass) String() string {
	return [...]string{"two 256-bit FMA pipes", "512-bit FMAs in two halves", "two 512-bit FMA pipes"}[c]
}

// intelServerModels are the family-6 models of Intel's server cores with
// two 512-bit FMA ports: Skylake-SP, Cascade Lake and Cooper Lake (0x55),
// Ice Lake-SP (0x6a, 0x6c), Sapphire Rapids (0x8f), Emerald Rapids (0xcf),
// Granite Rapids (0xad, 0xae). (Some low-end Skylake-SP parts have one port;
// cpuid does not tell, and they lose little with these tiles.)
var intelServerModels = map[int]bool{0x55: true, 0x6a: true, 0x6c: true, 0x8f: true, 0xcf: true, 0xad: true, 0xae: true}

// cpuFMAClass classifies this CPU from cpuid.
func cpuFMAClass() fmaClass {
	c := &cpuid.CPU
	if !c.Supports(cpuid.AVX512F) {
		return fmaYMM
	}
	switch {
	case c.VendorID == cpuid.AMD && c.Family >= 0x1a, // Zen 5 and later
		c.VendorID == cpuid.Intel && c.Family == 6 && intelServerModels[c.Model]:
		return fmaZMMFull
	}
	return fmaZMMHalves
}

// kernelRate is how close a kernel comes to the FMA issue rate of its
// tile's rows, as BenchmarkGemmMicroKernel measured it on one core: on Zen 4
// for fmaZMMHalves; 0.95 elsewhere, which is what every tile measured on
// Zen 5 (0.90–0.95 of the register-only FMA peak, the mixed tiles'
// unfilled lanes aside).
var kernelRate = map[fmaClass]map[string]float64{
	fmaZMMHalves: {"12x32": 1.0, "8x40": 0.97, "12x24": 0.85, "6x16": 0.95, "4x24": 0.9},
}

// tileRate estimates a tile's multiply-adds per cycle on one core: the
// core's two FMA pipes, times the share of their issue slots the tile's rows
// fill with useful lanes, times the kernel's own rate (kernelRate). With
// two 512-bit pipes every FMA instruction takes a slot of 16 lanes; with
// 256-bit pipes a ZMM FMA takes two slots of 8 lanes, a YMM one a slot.
func tileRate(t *gemmTile, class fmaClass) float64 {
	rate, ok := kernelRate[class][t.name]
	if !ok {
		rate = 0.95
	}
	if class == fmaZMMFull {
		return 2 * 16 * float64(t.nr) / float64(16*(t.zmm+t.ymm)) * rate
	}
	return 2 * 8 * float64(t.nr) / float64(8*(2*t.zmm+t.ymm)) * rate
}

// gemmBlocking sets kc, mc and nc for tile t from the cache sizes cpuid
// reports:
//
//   - kc: every k block costs each tile a pass over its part of C and, split
//     between threads, a barrier, so blocks are deep: the B panel (kc×nr),
//     which each A panel of the block reuses in turn, takes up to a quarter
//     of L2, 256 ≤ kc ≤ 1024. Streaming it from L2 rather than L1 costs
//     nothing on these cores (BenchmarkGemmMicroKernel and the VAE's
//     products measure the same or better with the panel beyond L1): 5×80
//     reads 320 bytes a k step for 25 FMAs, a third of Zen 5's L2 bandwidth.
//     The VAE's k of 400 and 784 fit one block.
//   - mc: the packed mc×kc block of A is reused by every B panel, so it
//     lives in L2: mc·kc·4 ≤ L2/2, leaving room for a B panel and C.
//   - nc: the packed kc×nc block of B is reused by every A block, so it
//     lives in L3, shared by the cores: kc·nc·4 ≤ L3/4, at most 4096.
//
// The blocking changes only the time: results are the same bits whatever
// it is (see gemmTile).
func gemmBlocking(t *gemmTile) (kc, mc, nc int) {
	_, l2, l3 := cacheSizes()
	kc = min(max(l2/4/(t.nr*4)/8*8, 256), 1024)
	mc = max(l2/2/(kc*4)/t.mr*t.mr, t.mr)
	nc = min(max(l3/4/(kc*4)/t.nr*t.nr, t.nr), 4096/t.nr*t.nr)
	return kc, mc, nc
}

// cacheSizes returns the L1d, L2 and L3 sizes cpuid reports, or 32 KiB,
// 1 MiB and 32 MiB where it cannot tell (as under some emulators).
func cacheSizes() (l1, l2, l3 int) {
	l1, l2, l3 = cpuid.CPU.Cache.L1D, cpuid.CPU.Cache.L2, cpuid.CPU.Cache.L3
	if l1 <= 0 {
		l1 = 32 << 10
	}
	if l2 <= 0 {
		l2 = 1 << 20
	}
	if l3 <= 0 {
		l3 = 32 << 20
	}
	return l1, l2, l3
}

// gemmConfigs returns the configs of the tiles of the named instruction
// sets, tuned for this CPU, narrowed to the tile named by FASTVAE_GEMM when
// that is one of them.
func gemmConfigs(class fmaClass, forced string, isas ...string) []*gemmConfig {
	var configs []*gemmConfig
	for _, t := range gemmTiles {
		for _, isa := range isas {
			if t.isa != isa || forced != "" && t.name != forced {
				continue
			}
			kc, mc, nc := gemmBlocking(t)
			configs = append(configs, &gemmConfig{gemmTile: t, kc: kc, mc: mc, nc: nc, rate: tileRate(t, class),
				packTrans: packTransAVX, packCopy: packCopyAVX})
		}
	}
	if len(configs) == 0 && forced != "" {
		return gemmConfigs(class, "", isas...) // the forced tile is not in these sets
	}
	return configs
}

// gemmEnvError reports a FASTVAE_GEMM value that names no tile of the
// assembly. A tile that exists but not in the active implementation is
// ignored there without error (gemmConfigs).
func gemmEnvError(forced string) error {
	if forced == "" {
		return nil
	}
	var names []string
	for _, t := range gemmTiles {
		if t.name == forced {
			return nil
		}
		names = append(names, t.name)
	}
	return fmt.Errorf("FASTVAE_GEMM=%s ignored: no such tile (there are %s)", forced, strings.Join(names, ", "))
}

// packTransAVX is packTrans with the 8- and 4-row blocks of whole groups of
// 8 k steps transposed in registers; the few rows and k steps left over go
// element by element.
func packTransAVX(dst, src []float32, ld, rows, kc, width int) {
	kc8 := kc &^ 7
	r := 0
	if kc8 > 0 {
		for ; r+8 <= rows; r += 8 {
			packTranspose8AVX(dst[r:], src[r*ld:], ld, kc8, width)
		}
		if r+4 <= rows {
			packTranspose4AVX(dst[r:], src[r*ld:], ld, kc8, width)
			r += 4
		}
	}
	if r < rows {
		packTransGeneric(dst[r:], src[r*ld:], ld, rows-r, kc, width)
	}
	if r > 0 && kc8 < kc {
		packTransGeneric(dst[kc8*width:], src[kc8:], ld, r, kc-kc8, width)
	}
}
