package kernels

import (
	"sync"
	"unsafe"
)

// gemmTile is one micro-kernel: it computes an mr×nr tile of C. See
// asm/gemm for the kernels' contract; in short, each element of a tile is
// one chain of multiply-adds over k in order, started from 0 or from beta·C,
// so that where tiles and k blocks fall never changes a result.
type gemmTile struct {
	name     string // "12x32": mr×nr
	isa      string // the implementation whose instructions it uses
	mr, nr   int
	zmm, ymm int // vectors of a row of the tile, by width

	// kernel reads a packed A panel (a[p*mr+i]); kernelAT and kernelAN,
	// when not nil, read a full mr-row panel of A in place, transposed
	// (a[p*lda+i]) or as stored (a[i*lda+p]). Packing A buys nothing when
	// each panel is used once, which is when n fits one B panel.
	kernel, kernelAT, kernelAN gemmKernel
}

// gemmKernel sets the rows×cols corner of the tile at c (leading dimension
// ldc) to beta·C + A·B from k steps of A and of a packed B panel
// (b[p*nr+j]); C is not read when beta is ±0.
type gemmKernel func(k int, a []float32, lda int, b, c []float32, ldc, rows, cols int, beta float32)

// gemmConfig is one tile together with the cache blocking chosen for it.
// The loops are those of BLIS (Van Zee and van de Geijn, "BLIS: A Framework
// for Rapidly Instantiating BLAS Functionality"): for each nc-wide block of
// columns and kc-deep block of k, B is packed into kc×nr panels; for each
// mc-tall block of rows, A is packed into mr×kc panels; the micro-kernel then
// sweeps the mr×nr tiles of C, each B panel against every A panel. Packing
// handles all four transposes, so a micro-kernel sees one layout.
type gemmConfig struct {
	*gemmTile
	kc int // deepest k block; k is cut into equal blocks no deeper
	mc int // rows of A packed at once, a multiple of mr
	nc int // columns of B packed at once, a multiple of nr

	// rate is the multiply-adds a cycle the kernel sustains on one core of
	// this CPU, by which pickGemm weighs tiles.
	rate float64

	// packTrans packs rows rows of a row-major source, transposed, into a
	// panel: dst[p*width+r] = src[r*ld+p] for r < rows, p < kc. It is how A
	// is packed when not transposed and B when transposed.
	packTrans func(dst, src []float32, ld, rows, kc, width int)

	// packCopy packs a panel whose k steps are contiguous runs of the
	// source: dst[p*width+i] = src[p*ld+i] for i < rows, p < kc. It is how A
	// is packed when transposed and B when not.
	packCopy func(dst, src []float32, ld, rows, kc, width int)
}

// gemmParallelMin is the work (m·n·k multiply-adds) below which a product
// stays on one goroutine: some 10 µs on one core, against well under a
// microsecond for handing out the parts.
const gemmParallelMin = 1 << 19

// gemmMinTiles is the fewest micro-tiles a part of a parallel product gets,
// so that a part's own packing and its barrier waits stay small beside its
// arithmetic.
const gemmMinTiles = 4

// gemmJob is one product and the buffers its parts share. A job's parts
// pack A and B together, panel by panel, then compute the tiles, a few at a
// time; a barrier separates the two, and two sets of buffers let the
// packing of the next block start while others still compute.
type gemmJob struct {
	g              *gemmConfig
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	kc, mc, nc   int
	bufA, bufB   [2][]float32
	packs, tiles queue // the panels to pack and the tiles to compute
}

// gemmJobs keeps jobs and their packing buffers for reuse. Unlike a
// sync.Pool it never drops them at a garbage collection, so a training loop
// allocates nothing once every goroutine that multiplies has had its job.
var gemmJobs struct {
	sync.Mutex
	free []*gemmJob
}

func getGemmJob() *gemmJob {
	gemmJobs.Lock()
	defer gemmJobs.Unlock()
	if n := len(gemmJobs.free); n > 0 {
		j := gemmJobs.free[n-1]
		gemmJobs.free = gemmJobs.free[:n-1]
		return j
	}
	return new(gemmJob)
}

func putGemmJob(j *gemmJob) {
	j.a, j.b, j.c = nil, nil, nil
	gemmJobs.Lock()
	gemmJobs.free = append(gemmJobs.free, j)
	gemmJobs.Unlock()
}

// sgemmBlocked is Sgemm (arguments already checked, m, n > 0, alpha ≠ 0,
// k > 0) with the micro-kernel and blocking of g. The product is cut into at most Threads() parts along whole micro-tiles; every
// element is computed by one part exactly as on one goroutine, so the result
// does not depend on the number of threads.
func sgemmBlocked(g *gemmConfig, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	j := getGemmJob()
	defer putGemmJob(j)
	j.g, j.transA, j.transB, j.m, j.n, j.k, j.alpha, j.beta = g, transA, transB, m, n, k, alpha, beta
	j.a, j.b, j.c, j.lda, j.ldb, j.ldc = a, b, c, lda, ldb, ldc
	j.packs.next.Store(0)
	j.tiles.next.Store(0)
	kblocks := (k + g.kc - 1) / g.kc
	// Blocks of about equal depth (no shallow last one), in whole groups
	// of 8 k steps where k allows, which the packing transposes at once.
	j.kc = roundUp((k+kblocks-1)/kblocks, 8)
	// A shallower k than the blocking was chosen for leaves room in L2 for
	// more rows of A: as many as keep the block's size.
	j.mc = min(max(g.mc, g.mc*g.kc/j.kc/g.mr*g.mr), roundUp(m, g.mr))
	j.nc = min(g.nc, roundUp(n, g.nr))
	for s := range j.bufA {
		if len(j.bufA[s]) < j.mc*j.kc {
			j.bufA[s] = alignedFloats(j.mc * j.kc)
		}
		if len(j.bufB[s]) < j.kc*j.nc {
			j.bufB[s] = alignedFloats(j.kc * j.nc)
		}
	}
	parts := 1
	if m*n*k >= gemmParallelMin {
		tiles := (j.mc / g.mr) * (j.nc / g.nr)
		parts = max(1, min(Threads(), tiles/gemmMinTiles))
	}
	parallel(j, parts)
}

// run computes part w of n of the product: panels to pack and tiles to
// compute come from the job's queues.
func (j *gemmJob) run(w, n int, bar *barrier) {
	g := j.g
	iter, block := 0, 0
	packBase, tileBase := 0, 0
	for jc := 0; jc < j.n; jc += j.nc {
		nc := min(j.nc, j.n-jc)
		bPanels := (nc + g.nr - 1) / g.nr
		for pc := 0; pc < j.k; pc += j.kc {
			kb := min(j.kc, j.k-pc)
			bufB := j.bufB[block%2]
			block++
			for ic := 0; ic < j.m; ic += j.mc {
				mc := min(j.mc, j.m-ic)
				bufA := j.bufA[iter%2]
				iter++
				inPlace := j.readsAInPlace(nc)
				// The panels to pack: those of A (only the short last
				// one when A is read in place), then, once per k block,
				// those of B.
				aPanels := (mc + g.mr - 1) / g.mr
				aFirst := 0
				if inPlace {
					aFirst = mc / g.mr
				}
				packs := aPanels - aFirst
				if ic == 0 {
					packs += bPanels
				}
				for {
					lo, hi, ok := j.packs.take(packBase+packs, 1)
					if !ok {
						break
					}
					for q := lo - packBase; q < hi-packBase; q++ {
						if q < aPanels-aFirst {
							p := aFirst + q
							j.packA(bufA, ic+p*g.mr, min(g.mr, mc-p*g.mr), pc, kb, p)
						} else {
							j.packB(bufB, pc, kb, jc, q-(aPanels-aFirst), nc)
						}
					}
				}
				packBase += packs
				bar.wait()

				beta := j.beta
				if pc > 0 {
					beta = 1 // later k blocks go on from what the first one wrote
				}
				tiles := aPanels * bPanels
				chunk := chunkOf(tiles, n)
				for {
					lo, hi, ok := j.tiles.take(tileBase+tiles, chunk)
					if !ok {
						break
					}
					for t := lo - tileBase; t < hi-tileBase; t++ {
						// A B panel stays in L1 while the A panels stream past.
						jr, ir := t/aPanels*g.nr, t%aPanels*g.mr
						rows, cols := min(g.mr, mc-ir), min(g.nr, nc-jr)
						off := (ic+ir)*j.ldc + jc + jr
						a, lda, kernel := bufA[ir*kb:], 0, g.kernel
						if inPlace && rows == g.mr {
							lda, kernel = j.lda, j.inPlace()
							if j.transA {
								a = j.a[pc*j.lda+ic+ir:]
							} else {
								a = j.a[(ic+ir)*j.lda+pc:]
							}
						}
						kernel(kb, a, lda, bufB[jr*kb:], j.c[off:], j.ldc, rows, cols, beta)
					}
				}
				tileBase += tiles
			}
		}
	}
}

// readsAInPlace reports whether the job's tiles read A in place rather than
// from packed panels when an nc-wide block of B is packed: always when each
// panel of A is used once (nc fits one B panel), and, for A as stored, also
// when its panels are reused, provided the rows of a panel fall in distinct
// L1 sets and so do not evict one another as packed panels never do. (A
// transposed panel read in place wastes most of each cache line: it pays
// only when used once.)
func (j *gemmJob) readsAInPlace(nc int) bool {
	if j.inPlace() == nil {
		return false
	}
	return nc <= j.g.nr || !j.transA && rowsSpread(j.lda, j.g.mr)
}

// rowsSpread reports whether rows rows ld floats apart start in distinct
// sets of an L1 cache of 64 sets of 64-byte lines, as the L1d caches of all
// the cores this package tunes for are.
func rowsSpread(ld, rows int) bool {
	var seen uint64
	for i := range rows {
		bit := uint64(1) << (i * ld * 4 / 64 % 64)
		if seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	return true
}

// inPlace returns the kernel that reads A in place for the job's layout, or
// nil.
func (j *gemmJob) inPlace() gemmKernel {
	if j.transA {
		return j.g.kernelAT
	}
	return j.g.kernelAN
}

// packA packs rows i0..i0+rows-1, depth p0..p0+kc-1 of op(A) into panel
// number panel of dst, stored k step by k step (dst[panel·mr·kc + p*mr +
// i]), padding a short panel's rows with zeros.
func (j *gemmJob) packA(dst []float32, i0, rows, p0, kc, panel int) {
	mr := j.g.mr
	d := dst[panel*mr*kc : (panel+1)*mr*kc]
	if j.transA { // op(A)[i][p] = a[p*lda+i]: each k step is a contiguous run
		j.g.packCopy(d, j.a[p0*j.lda+i0:], j.lda, rows, kc, mr)
	} else {
		j.g.packTrans(d, j.a[i0*j.lda+p0:], j.lda, rows, kc, mr)
	}
	padPanel(d, rows, mr)
}

// packB packs panel number panel (columns j0+panel·nr onwards, at most
// nr) of depth p0..p0+kc-1 of the nc columns of op(B) at j0 into dst,
// stored k step by k step (dst[panel·nr·kc + p*nr + j]), padding a short
// panel's columns with zeros, and scales it by alpha.
func (j *gemmJob) packB(dst []float32, p0, kc, j0, panel, nc int) {
	nr := j.g.nr
	jr := panel * nr
	cols := min(nr, nc-jr)
	d := dst[jr*kc : (jr+nr)*kc]
	if j.transB {
		j.g.packTrans(d, j.b[(j0+jr)*j.ldb+p0:], j.ldb, cols, kc, nr)
	} else { // op(B)[p][j] = b[p*ldb+j]: each k step is a contiguous run
		j.g.packCopy(d, j.b[p0*j.ldb+j0+jr:], j.ldb, cols, kc, nr)
	}
	padPanel(d, cols, nr)
	if j.alpha != 1 {
		for i := range d {
			d[i] *= j.alpha
		}
	}
}

// packTransGeneric is the portable packTrans.
func packTransGeneric(dst, src []float32, ld, rows, kc, width int) {
	for r := 0; r < rows; r++ {
		row := src[r*ld : r*ld+kc]
		for p, v := range row {
			dst[p*width+r] = v
		}
	}
}

// packCopyGeneric is the portable packCopy.
func packCopyGeneric(dst, src []float32, ld, rows, kc, width int) {
	for p := 0; p < kc; p++ {
		copy(dst[p*width:p*width+rows], src[p*ld:p*ld+rows])
	}
}

// padPanel zeroes entries used..width-1 of every k step of a panel. The
// runs are a few floats long: a loop beats a call to memclr per run.
func padPanel(panel []float32, used, width int) {
	if used == width {
		return
	}
	for p := 0; p+width <= len(panel); p += width {
		run := panel[p+used : p+width]
		for i := 0; i < len(run); i++ {
			run[i] = 0
		}
	}
}

// pickGemm returns the config among configs expected to compute the
// product fastest. The estimate, in cycles of one core, counts the
// multiply-adds of the padded tiles at the kernel's rate and the elements
// packed: a transposing pack moves about 3 elements a cycle, a copying one
// pays some 6 cycles per k step of a panel on top of its element moves, so
// that narrow copied panels cost. Tiles compute the same bits, so the
// choice changes only the time.
func pickGemm(transA, transB bool, m, n, k int, configs []*gemmConfig) *gemmConfig {
	var best *gemmConfig
	var bestCost float64
	for _, g := range configs {
		tiles := float64(roundUp(m, g.mr)) * float64(roundUp(n, g.nr)) * float64(k)
		cost := tiles / g.rate
		packA := float64(m*k) * float64((n+g.nc-1)/g.nc) // A is packed once per nc block
		if n <= g.nr && (transA && g.kernelAT != nil || !transA && g.kernelAN != nil) {
			// Only the short panel is packed; reading A in place costs
			// cache lines, more so when a transposed panel is narrow.
			packA = float64(m % g.mr * k)
			inPlace := 1 / float64(g.mr)
			if transA {
				inPlace = 2 / float64(g.mr)
			}
			cost += float64(m*k) * inPlace
		}
		cost += packA * packCost(transA, g.mr) // a transposed A is copied
		cost += float64(k*n) * packCost(!transB, g.nr)
		if best == nil || cost < bestCost {
			best, bestCost = g, cost
		}
	}
	return best
}

// packCost is the estimated cycles per element of packing a panel width
// wide by copying runs or by transposing.
func packCost(copying bool, width int) float64 {
	if copying {
		return 0.1 + 6/float64(width)
	}
	return 0.3
}

// scaleC sets C = beta·C, or C = 0 without reading it when beta == 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// alignedFloats returns n float32s starting on a 64-byte boundary, so that
// packed panels start on cache lines.
func alignedFloats(n int) []float32 {
	const align = 64 / 4
	s := make([]float32, n+align)
	skip := (align - int(uintptr(unsafe.Pointer(&s[0]))/4%align)) % align
	return s[skip : skip+n : skip+n]
}
