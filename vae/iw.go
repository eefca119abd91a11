package vae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/fastvae/fastvae/kernels"
	"github.com/fastvae/fastvae/nn"
)

// Score is the importance-sampled evaluation of one example, in nats.
type Score struct {
	// NLL estimates −log p(x) by importance sampling (Burda et al., 2016):
	// −log (1/K)·Σₖ p(x|zₖ)·p(zₖ)/q(zₖ|x) over K draws zₖ ~ q(z|x). Its
	// expectation is an upper bound of −log p(x) that falls towards it as
	// K grows.
	NLL float64
	// ELBO is the evidence lower bound estimated from the same draws: the
	// mean of log p(x|zₖ) minus KL(q(z|x) ‖ N(0, I)), the KL computed
	// exactly. Its expectation is at most log p(x), so −ELBO is the
	// training loss of β = 1 and at least NLL on average.
	ELBO float64
}

// IWOptions configures LogLikelihood.
type IWOptions struct {
	K int // importance samples per example, at least 1
	// Seed and First select the draws: row i of x, example First+i of its
	// data set, draws samples [iwGroup·g, iwGroup·(g+1)) of its K, Latent
	// normal numbers each, from generator (First+i, g) of stream
	// nn.StreamIW of Seed (nn.Key), so an example's score depends on the
	// model, Seed, K and its index alone, not on the other rows evaluated
	// with it, the chunking or the thread count.
	Seed  uint64
	First int
}

// iwRows is the number of decoder rows (examples × samples) decoded per
// GEMM by LogLikelihood: enough for the GEMMs to run at full speed, and a
// bound on its buffers whatever K (iwRows·(Input + hidden widths) floats,
// 4.8 MB for the default model). A multiple of iwGroup; a variable only so
// that the tests can check that the blocking changes no bit.
var iwRows = 1024

// iwGroup is the number of samples of an example drawn from one generator:
// the groups of a block are drawn in parallel.
const iwGroup = 32

// iwWorkspace holds LogLikelihood's buffers for iwRows decoder rows and
// the running sums of the examples of one encoder chunk.
type iwWorkspace struct {
	eps, z   []float32   // [iwRows, Latent]
	zc       []float32   // conditional: [iwRows, Latent+Classes]
	hidden   [][]float32 // the decoder's hidden layers, [iwRows, width]
	out      []float32   // [iwRows, Input]: logits or means
	logPZQ   []float64   // [iwRows]: log p(z) − log q(z|x) of each row's z
	rec      []float64   // [iwRows]: −log p(x|z) of each row
	example  []int       // [iwRows]: the row's example within the chunk
	rowLabel []int       // [iwRows]: its label (conditional models)
	groups   []iwGroupRows
	acc      []iwAcc // per example of the chunk
	parts    []iwPart
	block    iwBlock // the block being filled, kept here so that it is not allocated per call
}

// iwGroupRows is one group of samples of an example in the block.
type iwGroupRows struct {
	example, group int // the example within the chunk, and its group number
	row, n         int // the block's rows [row, row+n)
}

// iwPart is what one part of the parallel work of a block draws with.
type iwPart struct {
	src   *rand.ChaCha8
	r     *rand.Rand
	sigma []float64 // [Latent]: exp(logvar/2) of the example being drawn
}

// iwAcc accumulates one example's log-weights: log Σₖ wₖ = max +
// log(sum) with sum = Σₖ exp(log wₖ − max), updated sample by sample in
// order, so that the result does not depend on how the samples were
// blocked; and Σₖ −log p(x|zₖ).
type iwAcc struct {
	max, sum, rec float64
	kl            float64 // KL(q(z|x) ‖ N(0, I))
}

func (a *iwAcc) add(logW float64) {
	if logW > a.max {
		a.sum = float64(a.sum*math.Exp(a.max-logW)) + 1
		a.max = logW
	} else {
		a.sum += math.Exp(logW - a.max)
	}
}

// fanOut runs f(part, parts) for every part in [0, parts), parts ≥ 2, on
// the caller and parts−1 goroutines, and returns when all are done.
func fanOut(parts int, f func(part, parts int)) {
	var wg sync.WaitGroup
	wg.Add(parts - 1)
	for p := 1; p < parts; p++ {
		go func() {
			defer wg.Done()
			f(p, parts)
		}()
	}
	f(0, parts)
	wg.Wait()
}

// LogLikelihood estimates log p(x) of each row of x (n rows of Input
// values; for a conditional model labels[i] labels row i, log p(x|y)) by
// importance sampling with o.K samples from q(z|x), and sets scores[i] to
// row i's Score. It returns the mean Score of the rows. Every sum is in
// float64 and the log-sum-exp is stable: the weights are taken relative to
// the largest. Memory is bounded whatever K: the samples are decoded in
// blocks of iwRows rows, the K samples of several examples in one block
// when K is small. The decoder's GEMMs, the draws and the likelihoods of
// the rows run on all [kernels.Threads]; the results are bit for bit the
// same for any thread count (see IWOptions for what they depend on). It uses neither the training nor the evaluation
// stream, and changes no parameter. It panics unless the lengths agree,
// o.K ≥ 1 and o.First ≥ 0.
func (m *Model) LogLikelihood(scores []Score, x []float32, labels []int, o IWOptions) Score {
	const op = "LogLikelihood"
	n := m.rows(op, x, m.cfg.Input, labels)
	if len(scores) != n {
		panic(fmt.Sprintf("vae: %s: len(scores)=%d for %d rows", op, len(scores), n))
	}
	if o.K < 1 || o.First < 0 {
		panic(fmt.Sprintf("vae: %s: K=%d First=%d, want K ≥ 1 and First ≥ 0", op, o.K, o.First))
	}
	D := m.cfg.Input
	m.chunks(n, func(lo, hi int) {
		m.iwChunk(scores[lo:hi], x[lo*D:hi*D], rowLabels(labels, lo, hi), o, o.First+lo)
	})
	var mean Score
	for _, s := range scores {
		mean.NLL += s.NLL
		mean.ELBO += s.ELBO
	}
	mean.NLL /= float64(n)
	mean.ELBO /= float64(n)
	return mean
}

// iwBuffers returns the model's LogLikelihood workspace, made on first use,
// with room for the running sums of n examples and the given number of
// parts.
func (m *Model) iwBuffers(n, parts int) *iwWorkspace {
	w := m.iw
	L, C := m.cfg.Latent, m.cfg.Classes
	if w == nil || len(w.out) != iwRows*m.cfg.Input {
		w = &iwWorkspace{
			eps: make([]float32, iwRows*L), z: make([]float32, iwRows*L),
			out:    make([]float32, iwRows*m.cfg.Input),
			logPZQ: make([]float64, iwRows), rec: make([]float64, iwRows),
			example: make([]int, iwRows), rowLabel: make([]int, iwRows),
			groups: make([]iwGroupRows, 0, iwRows),
		}
		if C > 0 {
			w.zc = make([]float32, iwRows*(L+C))
		}
		for _, l := range m.dec[:len(m.dec)-1] {
			w.hidden = append(w.hidden, make([]float32, iwRows*l.Out))
		}
		m.iw = w
	}
	if len(w.acc) < n {
		w.acc = make([]iwAcc, n)
	}
	for len(w.parts) < parts {
		src := rand.NewChaCha8([32]byte{})
		w.parts = append(w.parts, iwPart{src: src, r: rand.New(src), sigma: make([]float64, L)})
	}
	return w
}

// iwChunk scores the n rows of x (at most the workspace's capacity), the
// first of which is example first of the data set.
func (m *Model) iwChunk(scores []Score, x []float32, labels []int, o IWOptions, first int) {
	n := len(scores)
	L := m.cfg.Latent
	parts := kernels.Threads()
	w := m.iwBuffers(n, parts)
	mu, logvar := m.encode(m.encoderInput(x, labels, n), n)
	acc := w.acc[:n]
	for e := range acc {
		var kl float64
		for j := e * L; j < (e+1)*L; j++ {
			mj, lv := float64(mu[j]), float64(logvar[j])
			kl += float64(mj*mj) + (math.Expm1(lv) - lv) // e^lv − 1 − lv without the cancellation of e^lv − 1 near 0
		}
		acc[e] = iwAcc{max: math.Inf(-1), kl: kl / 2}
	}
	b := &w.block
	*b = iwBlock{m: m, w: w, x: x, labels: labels, mu: mu, logvar: logvar, seed: o.Seed, first: first, parts: parts}
	for e := range n {
		for s := 0; s < o.K; {
			// A block holds whole examples when K fits in it, else one
			// example's samples, iwRows at a time (whole groups: iwRows is
			// a multiple of iwGroup).
			if b.rows == iwRows || (s == 0 && b.rows+o.K > iwRows) {
				b.run()
			}
			take := min(o.K-s, iwRows-b.rows)
			for g := s; g < s+take; g += iwGroup {
				k := min(iwGroup, s+take-g)
				w.groups = append(w.groups, iwGroupRows{example: e, group: g / iwGroup, row: b.rows, n: k})
				b.rows += k
			}
			s += take
		}
	}
	b.run()
	*b = iwBlock{} // keeps no references to the caller's data
	logK := math.Log(float64(o.K))
	for e, a := range acc {
		logPX := a.max + math.Log(a.sum) - logK
		scores[e] = Score{NLL: -logPX, ELBO: -a.rec/float64(o.K) - a.kl}
	}
}

// iwBlock is a block of decoder rows being filled: w.groups lists its
// groups of samples.
type iwBlock struct {
	m          *Model
	w          *iwWorkspace
	x          []float32 // the chunk's examples
	labels     []int
	mu, logvar []float32 // of the chunk's examples
	seed       uint64
	first      int // the data-set index of the chunk's first example
	parts      int
	rows       int
}

// run draws the block's samples, decodes them, adds each row's log-weight
// log p(x|z) + log p(z) − log q(z|x) to its example's sums in row order,
// and empties the block.
func (b *iwBlock) run() {
	if b.rows == 0 {
		return
	}
	m, w, rows := b.m, b.w, b.rows
	L, C, D := m.cfg.Latent, m.cfg.Classes, m.cfg.Input
	// One part runs on the caller, without the goroutines (and the
	// allocations) of fanOut.
	if p := min(b.parts, len(w.groups)); p > 1 {
		fanOut(p, b.draw)
	} else {
		b.draw(0, 1)
	}
	zin := w.z[:rows*L]
	if C > 0 {
		zin = withOneHot(w.zc, zin, w.rowLabel, L, C, rows)
	}
	m.decode(w.out[:rows*D], zin, w.hidden, rows)
	if p := min(b.parts, rows); p > 1 {
		fanOut(p, b.likelihoods)
	} else {
		b.likelihoods(0, 1)
	}
	for r := range rows {
		a := &w.acc[w.example[r]]
		a.rec += w.rec[r]
		a.add(w.logPZQ[r] - w.rec[r])
	}
	b.rows = 0
	w.groups = w.groups[:0]
}

// draw fills the rows of every parts-th group of the block, from the
// part-th on, with samples z ~ q(z|x) of its example and their
// log p(z) − log q(z|x).
func (b *iwBlock) draw(part, parts int) {
	w, L := b.w, b.m.cfg.Latent
	p := &w.parts[part]
	for gi := part; gi < len(w.groups); gi += parts {
		g := w.groups[gi]
		p.src.Seed(nn.Key(b.seed, nn.StreamIW, uint64(b.first+g.example), uint64(g.group)))
		nn.Normal(w.eps[g.row*L:(g.row+g.n)*L], p.r)
		mu, logvar := b.mu[g.example*L:(g.example+1)*L], b.logvar[g.example*L:(g.example+1)*L]
		for j, lv := range logvar {
			p.sigma[j] = math.Exp(float64(lv) / 2)
		}
		for r := g.row; r < g.row+g.n; r++ {
			var lpq float64
			for j := range L {
				mj, lv, s := float64(mu[j]), float64(logvar[j]), p.sigma[j]
				zf := float32(mj + float64(float64(w.eps[r*L+j])*s))
				w.z[r*L+j] = zf
				// At the z the decoder sees, rounded to float32:
				// log N(z; 0, 1) − log N(z; mu, σ²) = ½·(u² + logvar − z²), u = (z − mu)/σ.
				z := float64(zf)
				u := (z - mj) / s
				lpq += float64(u*u) + lv - float64(z*z)
			}
			w.logPZQ[r] = lpq / 2
			w.example[r] = g.example
			if b.labels != nil {
				w.rowLabel[r] = b.labels[g.example]
			}
		}
	}
}

// likelihoods sets w.rec to −log p(x|z) for the part-th of parts slices of
// the block's rows. The gradient the kernels also write goes over the
// decoder's output.
func (b *iwBlock) likelihoods(part, parts int) {
	m, w := b.m, b.w
	D := m.cfg.Input
	lo, hi := part*b.rows/parts, (part+1)*b.rows/parts
	for r := lo; r < hi; r++ {
		e := w.example[r]
		o, t := w.out[r*D:(r+1)*D], b.x[e*D:(e+1)*D]
		if m.cfg.Decoder == Bernoulli {
			w.rec[r] = kernels.BCEWithLogits(o, o, t, 1)
		} else {
			w.rec[r] = kernels.SquaredError(o, o, t, 1)/(m.cfg.Sigma*m.cfg.Sigma) + m.recConst
		}
	}
}
