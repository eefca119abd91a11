package kernels

import (
	"sync"
	"unsafe"
)

// gemmConfig is one implementation of the blocked SGEMM: its micro-kernel and
// the cache blocking chosen for it. The loops are those of BLIS (Van Zee and
// van de Geijn, "BLIS: A Framework for Rapidly Instantiating BLAS
// Functionality"): for each nc-wide block of columns and kc-deep block of k,
// B is packed into kc×nr panels; for each mc-tall block of rows, A is packed
// into mr×kc panels; the micro-kernel then sweeps the mr×nr tiles of C.
// Packing handles all four transposes, so a micro-kernel sees one layout.
type gemmConfig struct {
	mr, nr int // the micro-kernel's tile of C
	kc     int // deepest k block; k is cut into equal blocks no deeper
	mc     int // rows of A packed at once, a multiple of mr
	nc     int // columns of B packed at once, a multiple of nr

	// speed is the kernel's multiply-add rate as a fraction of one core's
	// peak (16 a cycle with AVX2 or AVX-512 on Zen 4), as
	// BenchmarkGemmMicroKernel measures it; pickGemm weighs tiles with it.
	speed float64

	// kernel sets C = alpha·Ã·B̃ + beta·C on the rows×cols corner of the
	// tile at c (leading dimension ldc), from k steps of a packed A panel
	// (a[p*mr+i]; lda is unused) and a packed B panel (b[p*nr+j]); C is not
	// read when beta == 0. Every element must be one sequential chain over p
	// whatever rows and cols are, so that results do not depend on where
	// tiles fall.
	kernel gemmKernel

	// kernelAT and kernelAN, when not nil, are forms of kernel that read a
	// full mr-row panel of A in place: transposed (a[p*lda+i]) or as stored
	// (a[i*lda+p]). Packing A buys nothing when each panel is used once,
	// which is when n fits one B panel; they round exactly like kernel.
	kernelAT, kernelAN gemmKernel

	// packTrans packs rows rows of a row-major source, transposed, into a
	// panel: dst[p*width+r] = src[r*ld+p] for r < rows, p < kc. It is how A
	// is packed when not transposed and B when transposed.
	packTrans func(dst, src []float32, ld, rows, kc, width int)

	// packCopy packs a panel whose k steps are contiguous runs of the
	// source: dst[p*width+i] = src[p*ld+i] for i < rows, p < kc. It is how A
	// is packed when transposed and B when not.
	packCopy func(dst, src []float32, ld, rows, kc, width int)
}

// gemmKernel is the signature of the micro-kernels; see gemmConfig.kernel.
type gemmKernel func(k int, a []float32, lda int, b, c []float32, ldc, rows, cols int, alpha, beta float32)

// gemmParallelMin is the work (m·n·k multiply-adds) below which Sgemm stays
// on one goroutine: about 40 µs on one core, well above what handing a part
// to a worker and waking it costs.
const gemmParallelMin = 1 << 21

// sgemmBlocked is Sgemm (arguments already checked, m, n > 0) with the
// micro-kernel and blocking of g. The product is cut into at most Threads()
// parts along whole micro-tiles of the longer dimension; each part is computed
// exactly as on one goroutine, and k is never split between goroutines, so
// the result does not depend on the number of threads.
func sgemmBlocked(g *gemmConfig, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := gemmProblem{g: g, transA: transA, transB: transB, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	workers := Threads()
	if m*n*k < gemmParallelMin {
		workers = 1
	}
	// Split the dimension whose parts duplicate the less packing: cutting
	// the columns makes every worker pack all of A (m·k), cutting the rows
	// all of B (k·n).
	splitN := n >= m
	step, size := g.nr, n
	if !splitN {
		step, size = g.mr, m
	}
	tiles := (size + step - 1) / step
	workers = min(workers, tiles)
	buf := getGemmBuffers()
	defer putGemmBuffers(buf)
	if workers <= 1 {
		p.run(buf, 0, m, 0, n)
		return
	}
	if cap(buf.done) < workers {
		buf.done = make(chan struct{}, workers)
	}
	startGemmWorkers(workers - 1)
	for w := workers - 1; w >= 0; w-- {
		lo := min(w*tiles/workers*step, size)
		hi := min((w+1)*tiles/workers*step, size)
		job := gemmJob{p: p, i0: 0, m: m, j0: lo, n: hi - lo, done: buf.done}
		if !splitN {
			job.i0, job.m, job.j0, job.n = lo, hi-lo, 0, n
		}
		if w == 0 {
			p.run(buf, job.i0, job.m, job.j0, job.n)
			break
		}
		gemmWorkers.jobs <- job
	}
	for w := 1; w < workers; w++ {
		<-buf.done
	}
}

// gemmJob is one part of a product, handed to a worker goroutine by value so
// that handing it over allocates nothing.
type gemmJob struct {
	p            gemmProblem
	i0, m, j0, n int
	done         chan<- struct{}
}

// gemmWorkers are long-lived goroutines that compute the parts of parallel
// products; they block on jobs when idle and are never stopped.
var gemmWorkers struct {
	sync.Mutex
	n    int
	jobs chan gemmJob
}

// startGemmWorkers makes sure at least n workers are running.
func startGemmWorkers(n int) {
	gemmWorkers.Lock()
	defer gemmWorkers.Unlock()
	if gemmWorkers.jobs == nil {
		gemmWorkers.jobs = make(chan gemmJob)
	}
	for ; gemmWorkers.n < n; gemmWorkers.n++ {
		go func(jobs <-chan gemmJob) {
			for job := range jobs {
				buf := getGemmBuffers()
				job.p.run(buf, job.i0, job.m, job.j0, job.n)
				putGemmBuffers(buf)
				job.done <- struct{}{}
			}
		}(gemmWorkers.jobs)
	}
}

// gemmProblem holds one Sgemm call's arguments.
type gemmProblem struct {
	g              *gemmConfig
	transA, transB bool
	k              int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

// run computes the m×n block of C at row i0, column j0 with the packing
// buffers buf.
func (p *gemmProblem) run(buf *gemmBuffers, i0, m, j0, n int) {
	g := p.g
	kblocks := (p.k + g.kc - 1) / g.kc
	kc := (p.k + kblocks - 1) / kblocks // equal blocks: no shallow last one
	ncMax := min(g.nc, roundUp(n, g.nr))
	mcMax := min(g.mc, roundUp(m, g.mr))
	buf.grow(mcMax*kc, kc*ncMax)

	for jc := 0; jc < n; jc += g.nc {
		nc := min(g.nc, n-jc)
		for pc := 0; pc < p.k; pc += kc {
			kb := min(kc, p.k-pc)
			g.packB(buf.b, p.b, p.ldb, p.transB, pc, kb, j0+jc, nc)
			beta := p.beta
			if pc > 0 {
				beta = 1 // later k blocks add to what the first one wrote
			}
			for ic := 0; ic < m; ic += g.mc {
				mc := min(g.mc, m-ic)
				if nc <= g.nr && g.inPlace(p.transA) != nil {
					p.oneColumnPanel(buf, i0+ic, mc, j0+jc, nc, pc, kb, beta)
					continue
				}
				g.packA(buf.a, p.a, p.lda, p.transA, i0+ic, mc, pc, kb)
				for jr := 0; jr < nc; jr += g.nr {
					cols := min(g.nr, nc-jr)
					bp := buf.b[jr*kb:]
					for ir := 0; ir < mc; ir += g.mr {
						rows := min(g.mr, mc-ir)
						off := (i0+ic+ir)*p.ldc + j0 + jc + jr
						g.kernel(kb, buf.a[ir*kb:], 0, bp, p.c[off:], p.ldc, rows, cols, p.alpha, beta)
					}
				}
			}
		}
	}
}

// inPlace returns the kernel that reads A in place for the transA layout, or
// nil.
func (g *gemmConfig) inPlace(transA bool) gemmKernel {
	if transA {
		return g.kernelAT
	}
	return g.kernelAN
}

// oneColumnPanel computes rows i0..i0+mc-1 of the cols columns at j0 that
// fit one packed B panel (in buf.b), k block p0..p0+kc-1, reading the full
// row panels of A in place: each would be packed for a single use. The short
// last panel, which must not be read past the matrix, is packed.
func (p *gemmProblem) oneColumnPanel(buf *gemmBuffers, i0, mc, j0, cols, p0, kc int, beta float32) {
	g := p.g
	kernel := g.inPlace(p.transA)
	for ir := 0; ir < mc; ir += g.mr {
		rows := min(g.mr, mc-ir)
		c := p.c[(i0+ir)*p.ldc+j0:]
		if rows < g.mr {
			g.packA(buf.a, p.a, p.lda, p.transA, i0+ir, rows, p0, kc)
			g.kernel(kc, buf.a, 0, buf.b, c, p.ldc, rows, cols, p.alpha, beta)
			continue
		}
		off := (i0+ir)*p.lda + p0
		if p.transA {
			off = p0*p.lda + i0 + ir
		}
		kernel(kc, p.a[off:], p.lda, buf.b, c, p.ldc, rows, cols, p.alpha, beta)
	}
}

// packA packs rows i0..i0+mc-1, depth p0..p0+kc-1 of op(A) into dst as mr×kc
// panels, each stored k step by k step (dst[panel + p*mr + i]), padding the
// rows of a short last panel with zeros.
func (g *gemmConfig) packA(dst, a []float32, lda int, trans bool, i0, mc, p0, kc int) {
	mr := g.mr
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		panel := dst[ir*kc : ir*kc+mr*kc]
		if trans { // op(A)[i][p] = a[p*lda+i]: each k step is a contiguous run
			g.packCopy(panel, a[p0*lda+i0+ir:], lda, rows, kc, mr)
		} else {
			g.packTrans(panel, a[(i0+ir)*lda+p0:], lda, rows, kc, mr)
		}
		padPanel(panel, rows, mr)
	}
}

// packB packs depth p0..p0+kc-1, columns j0..j0+nc-1 of op(B) into dst as
// kc×nr panels, each stored k step by k step (dst[panel + p*nr + j]), padding
// the columns of a short last panel with zeros.
func (g *gemmConfig) packB(dst, b []float32, ldb int, trans bool, p0, kc, j0, nc int) {
	nr := g.nr
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		panel := dst[jr*kc : jr*kc+nr*kc]
		if trans {
			g.packTrans(panel, b[(j0+jr)*ldb+p0:], ldb, cols, kc, nr)
		} else { // op(B)[p][j] = b[p*ldb+j]: each k step is a contiguous run
			g.packCopy(panel, b[p0*ldb+j0+jr:], ldb, cols, kc, nr)
		}
		padPanel(panel, cols, nr)
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
		d := dst[p*width : p*width+rows]
		s := src[p*ld : p*ld+rows]
		for i, v := range s {
			d[i] = v
		}
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
// multiply-adds of the padded tiles at the kernel's speed and the elements
// packed: a transposing pack moves about 3 elements a cycle, a copying one
// pays some 6 cycles per k step of a panel on top of its element moves, so
// that narrow copied panels cost. The choice depends on the shape alone,
// never on the thread count, so results stay bit-identical across thread
// counts.
func pickGemm(transA, transB bool, m, n, k int, configs ...*gemmConfig) *gemmConfig {
	var best *gemmConfig
	var bestCost float64
	for _, g := range configs {
		tiles := float64(roundUp(m, g.mr)) * float64(roundUp(n, g.nr)) * float64(k)
		cost := tiles / (16 * g.speed)
		packA := float64(m*k) * float64((n+g.nc-1)/g.nc) // A is packed once per nc block
		if n <= g.nr && g.inPlace(transA) != nil {
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

// gemmBuffers are one goroutine's packing buffers, 64-byte aligned so that
// packed panels start on cache lines, and the channel on which the workers
// helping that goroutine report back.
type gemmBuffers struct {
	a, b []float32
	done chan struct{}
}

// gemmPool keeps packing buffers for reuse. Unlike a sync.Pool it never drops
// them at a garbage collection, so a training loop allocates nothing once
// every goroutine that multiplies has had its buffers.
var gemmPool struct {
	sync.Mutex
	free []*gemmBuffers
}

func getGemmBuffers() *gemmBuffers {
	gemmPool.Lock()
	var buf *gemmBuffers
	if n := len(gemmPool.free); n > 0 {
		buf = gemmPool.free[n-1]
		gemmPool.free = gemmPool.free[:n-1]
	} else {
		buf = new(gemmBuffers)
	}
	gemmPool.Unlock()
	return buf
}

// grow makes the buffers hold at least na and nb float32s.
func (buf *gemmBuffers) grow(na, nb int) {
	if len(buf.a) < na {
		buf.a = alignedFloats(na)
	}
	if len(buf.b) < nb {
		buf.b = alignedFloats(nb)
	}
}

func putGemmBuffers(buf *gemmBuffers) {
	gemmPool.Lock()
	gemmPool.free = append(gemmPool.free, buf)
	gemmPool.Unlock()
}

// alignedFloats returns n float32s starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	const align = 64 / 4
	s := make([]float32, n+align)
	skip := (align - int(uintptr(unsafe.Pointer(&s[0]))/4%align)) % align
	return s[skip : skip+n : skip+n]
}
