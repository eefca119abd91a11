package kernels

import "sync"

// The elementwise and fused kernels split long slices between the parts of a
// job, in runs of whole cache lines; every element is computed as on one
// goroutine. Sums are taken over a fixed grid of chunks
// that depends on the length alone, and the chunk sums are added in order,
// so a sum too is the same whatever the number of parts.

const (
	// elemParallelMin is the work (elements × elemOp.cost) below which a
	// kernel stays on one goroutine, and elemPartMin the least work a part
	// gets: some 10 µs, against about one for handing it out and waiting
	// for the last part.
	elemParallelMin = 1 << 17
	elemPartMin     = 1 << 16
	// lineFloats is a cache line of float32s: parts start on multiples of
	// it, so that two parts never write the same line.
	lineFloats = 16

	// A sum over n elements is the sum, in order, of the sums of chunks of
	// sumChunk(n) elements: sumChunkMin at least, so that short sums are a
	// single chunk, and at most maxSumChunks chunks, so that the chunk sums
	// fit in the job.
	sumChunkMin  = 1 << 12
	maxSumChunks = 64
)

// sumChunk returns the chunk length of a sum over n elements.
func sumChunk(n int) int {
	return max(sumChunkMin, roundUp((n+maxSumChunks-1)/maxSumChunks, lineFloats))
}

// elemOp names the kernel an elemJob runs.
type elemOp int

const (
	opExp elemOp = iota
	opSigmoid
	opReLU
	opReLUBackward
	opAddBias
	opAdamStep
	opReparamKL
	opReparamKLBackward
	opBCEWithLogits
	opSquaredError
	opSumRows
)

// elemJob is one call of an elementwise kernel: its slices (in the order of
// the kernel's parameters), scalars, and the chunk sums of a summing kernel.
type elemJob struct {
	ks     *kernelSet
	op     elemOp
	n      int // elements; rows for AddBias, columns for SumRows
	s      [6][]float32
	scalar float32
	h      adamHyper
	sums   [maxSumChunks]float64
	queue  queue // of chunks (summing kernels), rows (AddBias) or lines (of columns for SumRows)
}

var elemJobs struct {
	sync.Mutex
	free []*elemJob
}

// elemParts returns how many parts op over n elements is split into.
func elemParts(op elemOp, n int) int {
	work := n * op.cost()
	if work < elemParallelMin {
		return 1
	}
	return max(1, min(Threads(), work/elemPartMin))
}

// cost is op's time per element relative to a copy's, roughly: streaming
// kernels 1, Adam's square root and division 4, an exp, a logarithm or a
// division 10 and more.
func (op elemOp) cost() int {
	switch op {
	case opExp, opReparamKL:
		return 10
	case opSigmoid, opBCEWithLogits:
		return 12
	case opReparamKLBackward:
		return 6
	case opAdamStep:
		return 4
	}
	return 1
}

// runElem runs op over n elements (see elemJob) of the slices s, in
// parts when long enough, and returns the sum the kernel computes, if any.
func runElem(op elemOp, n, parts int, scalar float32, h adamHyper, s ...[]float32) float64 {
	elemJobs.Lock()
	var j *elemJob
	if k := len(elemJobs.free); k > 0 {
		j = elemJobs.free[k-1]
		elemJobs.free = elemJobs.free[:k-1]
	} else {
		j = new(elemJob)
	}
	elemJobs.Unlock()

	j.ks, j.op, j.n, j.scalar, j.h = kernels(), op, n, scalar, h
	copy(j.s[:], s)
	j.queue.next.Store(0)
	parallel(j, parts)
	var sum float64
	if op.sums() {
		chunk := sumChunk(n)
		for c := 0; c*chunk < n; c++ {
			sum += j.sums[c]
		}
	}

	j.ks, j.s = nil, [6][]float32{}
	elemJobs.Lock()
	elemJobs.free = append(elemJobs.free, j)
	elemJobs.Unlock()
	return sum
}

// sums reports whether op returns a sum.
func (op elemOp) sums() bool {
	return op == opReparamKL || op == opBCEWithLogits || op == opSquaredError
}

func (j *elemJob) run(_, n int, _ *barrier) {
	if j.op.sums() {
		chunk := sumChunk(j.n)
		chunks := (j.n + chunk - 1) / chunk
		for {
			c, _, ok := j.queue.take(chunks, 1)
			if !ok {
				return
			}
			j.sums[c] = j.apply(c*chunk, min((c+1)*chunk, j.n))
		}
	}
	units, size := (j.n+lineFloats-1)/lineFloats, lineFloats
	if j.op == opAddBias {
		units, size = j.n, 1 // rows
	}
	chunk := chunkOf(units, n)
	for {
		lo, hi, ok := j.queue.take(units, chunk)
		if !ok {
			return
		}
		j.apply(lo*size, min(hi*size, j.n))
	}
}

// apply runs the kernel on elements (see elemJob) lo..hi−1.
func (j *elemJob) apply(lo, hi int) float64 {
	ks, s := j.ks, &j.s
	at := func(i int) []float32 { return s[i][lo:hi] }
	switch j.op {
	case opExp:
		ks.exp(at(0), at(1))
	case opSigmoid:
		ks.sigmoid(at(0), at(1))
	case opReLU:
		ks.relu(at(0), at(1))
	case opReLUBackward:
		ks.reluBackward(at(0), at(1), at(2))
	case opAddBias:
		cols := len(s[1])
		ks.addBias(s[0][lo*cols:hi*cols], s[1])
	case opAdamStep:
		ks.adamStep(at(0), at(1), at(2), at(3), j.h)
	case opReparamKL:
		return ks.reparamKL(at(0), at(1), at(2), at(3))
	case opReparamKLBackward:
		ks.reparamKLBackward(at(0), at(1), at(2), at(3), at(4), at(5), j.scalar)
	case opBCEWithLogits:
		return ks.bceWithLogits(at(0), at(1), at(2), j.scalar)
	case opSquaredError:
		return ks.squaredError(at(0), at(1), at(2), j.scalar)
	case opSumRows:
		cols := len(s[0])
		ks.sumRows(s[0][lo:hi], s[1][lo:], cols, len(s[1])/cols)
	}
	return 0
}
