package vae

import (
	"fmt"
	"math"
	"math/rand/v2"

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
	// Seed and First select the draws: the row i of x, example First+i of
	// its data set, draws its K·Latent normal numbers from generator
	// First+i of stream nn.StreamIW of Seed (nn.Key), so an example's
	// score depends on the model, Seed, K and its index alone, not on the
	// other rows evaluated with it, the chunking or the thread count.
	Seed  uint64
	First int
}

// iwRows is the number of decoder rows (examples × samples) decoded per
// GEMM by LogLikelihood: enough for the GEMMs to run at full speed, and a
// bound on its buffers whatever K (iwRows·(Input + hidden widths) floats,
// 4.8 MB for the default model). Even, so that every block but an
// example's last draws an even count of normal numbers, which keeps the
// draws independent of the blocking (nn.Normal draws pairs). A variable
// only so that the tests can check that the blocking changes no bit.
var iwRows = 1024

// iwWorkspace holds LogLikelihood's buffers for iwRows decoder rows and
// the running sums of the examples of one encoder chunk.
type iwWorkspace struct {
	eps, z   []float32   // [iwRows, Latent]
	zc       []float32   // conditional: [iwRows, Latent+Classes]
	hidden   [][]float32 // the decoder's hidden layers, [iwRows, width]
	out      []float32   // [iwRows, Input]: logits or means
	sigma    []float64   // [Latent]: exp(logvar/2) of the example being drawn
	logPZQ   []float64   // [iwRows]: log p(z) − log q(z|x) of each row's z
	example  []int       // [iwRows]: the row's example within the chunk
	rowLabel []int       // [iwRows]: its label (conditional models)
	acc      []iwAcc     // per example of the chunk
	src      *rand.ChaCha8
	r        *rand.Rand
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

// LogLikelihood estimates log p(x) of each row of x (n rows of Input
// values; for a conditional model labels[i] labels row i, log p(x|y)) by
// importance sampling with o.K samples from q(z|x), and sets scores[i] to
// row i's Score. It returns the mean Score of the rows. Every sum is in
// float64 and the log-sum-exp is stable: the weights are taken relative to
// the largest. Memory is bounded whatever K: the samples are decoded in
// blocks of iwRows rows, the K samples of several examples in one block
// when K is small; the decoder's GEMMs run on all [kernels.Threads]. The
// results are bit for bit the same for any thread count (see IWOptions for
// what they depend on). It uses neither the training nor the evaluation
// stream, and changes no parameter. It panics unless the lengths agree,
// o.K ≥ 1 and o.First ≥ 0.
func (m *Model) LogLikelihood(scores []Score, x []float32, labels []int, o IWOptions) Score {
	const op = "LogLikelihood"
	n := m.rows(op, x, m.cfg.Input)
	m.checkLabels(op, labels, n)
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
// with room for the running sums of n examples.
func (m *Model) iwBuffers(n int) *iwWorkspace {
	w := m.iw
	if w == nil {
		L, C := m.cfg.Latent, m.cfg.Classes
		w = &iwWorkspace{
			eps: make([]float32, iwRows*L), z: make([]float32, iwRows*L),
			out:    make([]float32, iwRows*m.cfg.Input),
			sigma:  make([]float64, L),
			logPZQ: make([]float64, iwRows), example: make([]int, iwRows), rowLabel: make([]int, iwRows),
		}
		if C > 0 {
			w.zc = make([]float32, iwRows*(L+C))
		}
		for _, l := range m.dec[:len(m.dec)-1] {
			w.hidden = append(w.hidden, make([]float32, iwRows*l.Out))
		}
		w.src = rand.NewChaCha8([32]byte{})
		w.r = rand.New(w.src)
		m.iw = w
	}
	if len(w.acc) < n {
		w.acc = make([]iwAcc, n)
	}
	return w
}

// iwChunk scores the n rows of x (at most the workspace's capacity), the
// first of which is example first of the data set.
func (m *Model) iwChunk(scores []Score, x []float32, labels []int, o IWOptions, first int) {
	n := len(scores)
	L := m.cfg.Latent
	w := m.iwBuffers(n)
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
	rows := 0
	for e := range n {
		w.src.Seed(nn.Key(o.Seed, nn.StreamIW, uint64(first+e)))
		for s := 0; s < o.K; {
			// A block holds whole examples when K fits in it, else one
			// example's samples, iwRows at a time.
			if rows == iwRows || (s == 0 && rows+o.K > iwRows) {
				m.iwBlock(w, x, rows)
				rows = 0
			}
			take := min(o.K-s, iwRows-rows)
			m.iwDraw(w, rows, take, e, mu[e*L:(e+1)*L], logvar[e*L:(e+1)*L], labels)
			rows += take
			s += take
		}
	}
	m.iwBlock(w, x, rows)
	logK := math.Log(float64(o.K))
	for e, a := range acc {
		logPX := a.max + math.Log(a.sum) - logK
		scores[e] = Score{NLL: -logPX, ELBO: -a.rec/float64(o.K) - a.kl}
	}
}

// iwDraw fills rows [r0, r0+k) of the block with k samples z ~ q(z|x) of
// example e, and their log p(z) − log q(z|x).
func (m *Model) iwDraw(w *iwWorkspace, r0, k, e int, mu, logvar []float32, labels []int) {
	L := m.cfg.Latent
	eps := w.eps[r0*L : (r0+k)*L]
	nn.Normal(eps, w.r)
	sigma := w.sigma
	for j, lv := range logvar {
		sigma[j] = math.Exp(float64(lv) / 2)
	}
	for r := r0; r < r0+k; r++ {
		var lpq float64
		for j := range L {
			mj, lv, s := float64(mu[j]), float64(logvar[j]), sigma[j]
			zf := float32(mj + float64(float64(w.eps[r*L+j])*s))
			w.z[r*L+j] = zf
			// At the z the decoder sees, rounded to float32:
			// log N(z; 0, 1) − log N(z; mu, σ²) = ½·(u² + logvar − z²), u = (z − mu)/σ.
			z := float64(zf)
			u := (z - mj) / s
			lpq += float64(u*u) + lv - float64(z*z)
		}
		w.logPZQ[r] = lpq / 2
		w.example[r] = e
		if labels != nil {
			w.rowLabel[r] = labels[e]
		}
	}
}

// iwBlock decodes the block's rows and adds each row's log-weight
// log p(x|z) + log p(z) − log q(z|x) to its example's sums, in row order.
func (m *Model) iwBlock(w *iwWorkspace, x []float32, rows int) {
	if rows == 0 {
		return
	}
	L, C, D := m.cfg.Latent, m.cfg.Classes, m.cfg.Input
	zin := w.z[:rows*L]
	if C > 0 {
		zin = withOneHot(w.zc, zin, w.rowLabel, L, C, rows)
	}
	out := w.out[:rows*D]
	m.decode(out, zin, w.hidden, rows)
	for r := range rows {
		e := w.example[r]
		o, t := out[r*D:(r+1)*D], x[e*D:(e+1)*D]
		var rec float64 // −log p(x|z); the gradient the kernels also write goes over the logits
		if m.cfg.Decoder == Bernoulli {
			rec = kernels.BCEWithLogits(o, o, t, 1)
		} else {
			rec = kernels.SquaredError(o, o, t, 1)/(m.cfg.Sigma*m.cfg.Sigma) + m.recConst
		}
		a := &w.acc[e]
		a.rec += rec
		a.add(w.logPZQ[r] - rec)
	}
}
