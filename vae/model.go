package vae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"unicode/utf8"

	"github.com/fastvae/fastvae/kernels"
	"github.com/fastvae/fastvae/nn"
)

// Model is a VAE with its Adam optimizer, its random streams and the
// buffers of a training step. The buffers are sized for the largest batch
// seen (or reserved), so after the first batch TrainStep allocates nothing,
// smaller batches included. A Model is not safe for concurrent use.
type Model struct {
	cfg    Config
	enc    []*nn.Linear // Input → Hidden[0] → … → Hidden[k−1]
	heads  *nn.Linear   // Hidden[k−1] → 2·Latent: rows [0, Latent) mu, the rest logvar
	dec    []*nn.Linear // Latent → Hidden[k−1] → … → Hidden[0] → Input
	params []*nn.Param
	opt    *nn.Adam

	// encParam[i] and decParam[j] index the weight of enc[i] and dec[j]
	// in params, their bias the next; headParam indexes the heads' four:
	// mu's weight and bias, then logvar's.
	encParam, decParam []int
	headParam          int

	// Training draws ε from epsSrc; Eval and Sample draw from evalSrc, so
	// evaluating never changes the course of training.
	epsSrc, evalSrc   *rand.ChaCha8
	epsRand, evalRand *rand.Rand

	klWeight float64 // the KL weight in effect: Config.Beta unless SetBeta changed it
	beta     float32 // klWeight, as the kernels take it
	recScale float32 // gradient scale of the loss kernel: 1, or 1/σ² (Gaussian)
	recConst float64 // Gaussian: (D/2)·log(2πσ²), the NLL's constant per example

	ws workspace
	iw *iwWorkspace // LogLikelihood's buffers, made on first use

	classNames []string // optional names of a conditional model's classes

	// fixedEps, when set, replaces the ε drawn in a training step or
	// evaluation (the gradient check needs a fixed function).
	fixedEps []float32
}

// workspace holds every activation and gradient of a step for up to cap
// rows; a step of n rows uses the first n rows of each buffer.
type workspace struct {
	cap                int
	enc, dEnc          [][]float32 // outputs (after ReLU) of the encoder layers and their gradients
	heads, dHeads      []float32   // [n, 2·Latent], each row mu then logvar
	mu, logvar, eps, z []float32   // [n, Latent]
	dMu, dLogvar, dZ   []float32   // [n, Latent]
	dec, dDec          [][]float32 // outputs of the decoder layers (the last: logits or means) and their gradients
	// A conditional model's inputs with the one-hot labels appended: the
	// encoder's [n, Input+Classes]; the decoder's [n, Latent+Classes] and
	// its gradient.
	xc, zc, dZc []float32
}

// Stats are the losses of a batch in nats, summed over its N examples (the
// PyTorch example's reduction='sum'); PerExample gives what it prints.
type Stats struct {
	N     int
	Loss  float64 // Recon + β·KL with the KL weight β in effect (Model.Beta): the negative ELBO when β = 1
	Recon float64 // −log p(x|z) for the sampled z
	KL    float64 // KL(q(z|x) ‖ N(0, I))
}

// Add adds o's sums and count to s, to total an epoch.
func (s *Stats) Add(o Stats) {
	s.N += o.N
	s.Loss += o.Loss
	s.Recon += o.Recon
	s.KL += o.KL
}

// PerExample returns the sums divided by N (zeros when N is 0): the
// example's "Loss: …" per logged batch, or its epoch average when s totals
// an epoch.
func (s Stats) PerExample() (loss, recon, kl float64) {
	if s.N == 0 {
		return 0, 0, 0
	}
	n := float64(s.N)
	return s.Loss / n, s.Recon / n, s.KL / n
}

// New returns a model of configuration cfg with PyTorch's default
// initialisation drawn from stream nn.StreamInit of seed, training noise
// from nn.StreamEps and evaluation and sampling noise from nn.StreamEval,
// and an Adam optimizer with PyTorch's defaults (lr 1e-3; change it through
// Optimizer).
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := newModel(cfg)
	if err != nil {
		return nil, err
	}
	r := rand.New(nn.NewSource(seed, nn.StreamInit))
	for _, p := range m.params {
		nn.InitUniform(p, r)
	}
	m.setSources(nn.NewSource(seed, nn.StreamEps), nn.NewSource(seed, nn.StreamEval))
	return m, nil
}

// newModel builds the layers, zeroed, and the parameter registry, from the
// layers' spec that checkpoints are checked against (Config.layers).
func newModel(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Hidden = append([]int(nil), cfg.Hidden...) // the caller's slice stays theirs
	m := &Model{cfg: cfg, recScale: 1}
	m.SetBeta(cfg.Beta)
	if cfg.Decoder == Gaussian {
		s2 := cfg.Sigma * cfg.Sigma
		m.recScale = float32(1 / s2)
		m.recConst = float64(cfg.Input) / 2 * nn.Log(2*math.Pi*s2) // nn.Log: same bits everywhere
	}
	for _, s := range cfg.layers() {
		var l *nn.Linear
		switch s.block {
		case encoderBlock:
			l = nn.NewLinear(s.in, s.out)
			m.enc = append(m.enc, l)
			m.encParam = append(m.encParam, len(m.params))
		case headsBlock:
			if m.heads == nil {
				m.heads = nn.NewLinear(s.in, 2*cfg.Latent)
				m.headParam = len(m.params)
			}
			l = m.heads
		case decoderBlock:
			l = nn.NewLinear(s.in, s.out)
			m.dec = append(m.dec, l)
			m.decParam = append(m.decParam, len(m.params))
		}
		m.params = append(m.params, s.view(l)...)
	}
	m.opt = nn.NewAdam(m.params)
	return m, nil
}

// view returns the layer's weight and bias as Params viewing its rows of
// l's storage.
func (s layerSpec) view(l *nn.Linear) []*nn.Param {
	w, b := s.params()
	lo, hi := s.row, s.row+s.out
	return []*nn.Param{
		nn.NewParam(w.name, w.shape, w.fanIn, l.W[lo*l.In:hi*l.In], l.DW[lo*l.In:hi*l.In]),
		nn.NewParam(b.name, b.shape, b.fanIn, l.B[lo:hi], l.DB[lo:hi]),
	}
}

func (m *Model) setSources(eps, eval *rand.ChaCha8) {
	m.epsSrc, m.evalSrc = eps, eval
	m.epsRand, m.evalRand = rand.New(eps), rand.New(eval)
}

// Config returns the model's configuration.
func (m *Model) Config() Config {
	c := m.cfg
	c.Hidden = append([]int(nil), c.Hidden...)
	return c
}

// Params returns the parameter registry in checkpoint order: per layer in
// forward order, weight then bias, under the names described in the package
// documentation. The Params view the model's storage.
func (m *Model) Params() []*nn.Param { return m.params }

// Optimizer returns the model's Adam optimizer, to set its learning rate or
// read its step count.
func (m *Model) Optimizer() *nn.Adam { return m.opt }

// SetBeta sets the weight β of the KL term in the loss of the following
// training steps and evaluations, e.g. per step during a KL warm-up that
// ramps it from 0 to Config.Beta; Config.Beta itself is left alone. The
// weight in effect is saved in checkpoints. It panics unless beta is
// finite and non-negative.
func (m *Model) SetBeta(beta float64) {
	if !(beta >= 0) || math.IsInf(beta, 0) {
		panic(fmt.Sprintf("vae: SetBeta: beta=%v must be non-negative and finite", beta))
	}
	m.klWeight, m.beta = beta, float32(beta)
}

// Beta returns the weight of the KL term in effect: Config.Beta, or what
// SetBeta last set.
func (m *Model) Beta() float64 { return m.klWeight }

// SetClassNames names the classes of a conditional model (names[i] for
// label i), to be saved in checkpoints; nil removes the names. It returns
// an error unless there is one valid UTF-8 name per class.
func (m *Model) SetClassNames(names []string) error {
	if names == nil {
		m.classNames = nil
		return nil
	}
	if len(names) != m.cfg.Classes {
		return fmt.Errorf("%d class names for a model of %d classes", len(names), m.cfg.Classes)
	}
	for i, s := range names {
		if !utf8.ValidString(s) {
			return fmt.Errorf("class name %d is not valid UTF-8", i)
		}
	}
	m.classNames = slices.Clone(names)
	return nil
}

// ClassNames returns the names of the classes, or nil when they have none.
func (m *Model) ClassNames() []string { return slices.Clone(m.classNames) }

// Reserve sizes the step's buffers for batches of up to n examples, so that
// not even the first TrainStep allocates. Batches larger than any reserved
// or seen grow the buffers.
func (m *Model) Reserve(n int) {
	ws := &m.ws
	if n <= ws.cap {
		return
	}
	L := m.cfg.Latent
	ws.cap = n
	ws.enc, ws.dEnc = nil, nil
	for _, l := range m.enc {
		ws.enc = append(ws.enc, make([]float32, n*l.Out))
		ws.dEnc = append(ws.dEnc, make([]float32, n*l.Out))
	}
	ws.heads, ws.dHeads = make([]float32, n*2*L), make([]float32, n*2*L)
	for _, p := range []*[]float32{&ws.mu, &ws.logvar, &ws.eps, &ws.z, &ws.dMu, &ws.dLogvar, &ws.dZ} {
		*p = make([]float32, n*L)
	}
	ws.dec, ws.dDec = nil, nil
	for _, l := range m.dec {
		ws.dec = append(ws.dec, make([]float32, n*l.Out))
		ws.dDec = append(ws.dDec, make([]float32, n*l.Out))
	}
	if C := m.cfg.Classes; C > 0 {
		ws.xc = make([]float32, n*(m.cfg.Input+C))
		ws.zc, ws.dZc = make([]float32, n*(L+C)), make([]float32, n*(L+C))
	}
}

// TrainStep trains on one batch x, n rows of Config.Input values
// (len(x) = n·Input): it draws ε, computes the loss, backpropagates and
// applies one Adam update. It returns the batch's losses from before the
// update. Each layer is updated as soon as backpropagation has passed it,
// while its gradients are in cache; the result is bit for bit that of
// computing every gradient and then calling Adam's Step. It panics unless
// len(x) is a positive multiple of Input, and for a conditional model,
// which trains with TrainStepLabeled.
func (m *Model) TrainStep(x []float32) Stats { return m.trainStep("TrainStep", x, nil) }

// TrainStepLabeled is TrainStep for a conditional model: labels[i] in
// [0, Classes) is the label of row i of x. It panics unless there is one
// label per row and the model is conditional.
func (m *Model) TrainStepLabeled(x []float32, labels []int) Stats {
	return m.trainStep("TrainStepLabeled", x, labels)
}

func (m *Model) trainStep(op string, x []float32, labels []int) Stats {
	n := m.rows(op, x, m.cfg.Input, labels)
	m.Reserve(n)
	st := m.forward(x, labels, n, m.epsRand)
	m.opt.Begin()
	m.backward(x, n, true)
	return st
}

// Eval returns the losses of x (n rows of Input values) with ε drawn from
// the evaluation stream, as the PyTorch example's test loop does, without
// changing the parameters or the training stream.
func (m *Model) Eval(x []float32) Stats { return m.eval("Eval", x, nil) }

// EvalLabeled is Eval for a conditional model, labels[i] labelling row i.
func (m *Model) EvalLabeled(x []float32, labels []int) Stats { return m.eval("EvalLabeled", x, labels) }

func (m *Model) eval(op string, x []float32, labels []int) Stats {
	n := m.rows(op, x, m.cfg.Input, labels)
	var st Stats
	D := m.cfg.Input
	m.chunks(n, func(lo, hi int) {
		st.Add(m.forward(x[lo*D:hi*D], rowLabels(labels, lo, hi), hi-lo, m.evalRand))
	})
	return st
}

// Encode sets mu and logvar ([n, Latent] each) to the parameters of q(z|x)
// for the n rows of x. It panics unless the lengths agree.
func (m *Model) Encode(mu, logvar, x []float32) { m.encodeRows("Encode", mu, logvar, x, nil) }

// EncodeLabeled is Encode for a conditional model: q(z|x, y) with
// y = labels[i] for row i.
func (m *Model) EncodeLabeled(mu, logvar, x []float32, labels []int) {
	m.encodeRows("EncodeLabeled", mu, logvar, x, labels)
}

func (m *Model) encodeRows(op string, mu, logvar, x []float32, labels []int) {
	n := m.rows(op, x, m.cfg.Input, labels)
	L, D := m.cfg.Latent, m.cfg.Input
	if len(mu) != n*L || len(logvar) != n*L {
		panic(fmt.Sprintf("vae: %s: len(mu)=%d len(logvar)=%d, want %d rows × Latent=%d", op, len(mu), len(logvar), n, L))
	}
	m.chunks(n, func(lo, hi int) {
		cmu, clogvar := m.encode(m.encoderInput(x[lo*D:hi*D], rowLabels(labels, lo, hi), hi-lo), hi-lo)
		copy(mu[lo*L:hi*L], cmu)
		copy(logvar[lo*L:hi*L], clogvar)
	})
}

// Decode sets dst ([n, Input]) to the decoder's output for the n rows of z
// ([n, Latent]): Bernoulli probabilities, or the Gaussian's means. It
// panics unless the lengths agree.
func (m *Model) Decode(dst, z []float32) { m.decodeRows("Decode", dst, z, nil) }

// DecodeLabeled is Decode for a conditional model: p(x|z, y) with
// y = labels[i] for row i.
func (m *Model) DecodeLabeled(dst, z []float32, labels []int) {
	m.decodeRows("DecodeLabeled", dst, z, labels)
}

func (m *Model) decodeRows(op string, dst, z []float32, labels []int) {
	n := m.rows(op, z, m.cfg.Latent, labels)
	m.checkOut(op, dst, n)
	L, D := m.cfg.Latent, m.cfg.Input
	m.chunks(n, func(lo, hi int) { m.decodeOutput(dst[lo*D:hi*D], z[lo*L:hi*L], rowLabels(labels, lo, hi), hi-lo) })
}

// Sample sets the rows of dst ([n, Input]) to the decodings of z ~ N(0, I),
// drawn from the evaluation stream.
func (m *Model) Sample(dst []float32) { m.sample("Sample", dst, nil) }

// SampleLabeled is Sample for a conditional model: row i is a decoding of
// z ~ N(0, I) given the label labels[i] (the same label in every row
// samples one class).
func (m *Model) SampleLabeled(dst []float32, labels []int) { m.sample("SampleLabeled", dst, labels) }

func (m *Model) sample(op string, dst []float32, labels []int) {
	n := m.rows(op, dst, m.cfg.Input, labels)
	L, D := m.cfg.Latent, m.cfg.Input
	m.chunks(n, func(lo, hi int) {
		z := m.ws.z[:(hi-lo)*L]
		nn.Normal(z, m.evalRand)
		m.decodeOutput(dst[lo*D:hi*D], z, rowLabels(labels, lo, hi), hi-lo)
	})
}

// Reconstruct sets dst to the decodings of the posterior means of the rows
// of x (z = mu, no noise), both [n, Input].
func (m *Model) Reconstruct(dst, x []float32) { m.reconstruct("Reconstruct", dst, x, nil) }

// ReconstructLabeled is Reconstruct for a conditional model, the label
// labels[i] given to both the encoder and the decoder for row i.
func (m *Model) ReconstructLabeled(dst, x []float32, labels []int) {
	m.reconstruct("ReconstructLabeled", dst, x, labels)
}

func (m *Model) reconstruct(op string, dst, x []float32, labels []int) {
	n := m.rows(op, x, m.cfg.Input, labels)
	m.checkOut(op, dst, n)
	D := m.cfg.Input
	m.chunks(n, func(lo, hi int) {
		lab := rowLabels(labels, lo, hi)
		mu, _ := m.encode(m.encoderInput(x[lo*D:hi*D], lab, hi-lo), hi-lo)
		m.decodeOutput(dst[lo*D:hi*D], mu, lab, hi-lo)
	})
}

// checkLabels panics unless labels fits the model: nil for an
// unconditional model, n labels in [0, Classes) for a conditional one.
func (m *Model) checkLabels(op string, labels []int, n int) {
	C := m.cfg.Classes
	switch {
	case C == 0 && labels != nil:
		panic(fmt.Sprintf("vae: %s: labels given to an unconditional model", op))
	case C == 0:
		return
	case labels == nil:
		panic(fmt.Sprintf("vae: %s: the model is conditional (%d classes) and needs a label per row", op, C))
	case len(labels) != n:
		panic(fmt.Sprintf("vae: %s: %d labels for %d rows", op, len(labels), n))
	}
	for i, y := range labels {
		if y < 0 || y >= C {
			panic(fmt.Sprintf("vae: %s: label %d of row %d outside [0, %d)", op, y, i, C))
		}
	}
}

// rowLabels returns the labels of rows [lo, hi), nil for an unconditional
// model.
func rowLabels(labels []int, lo, hi int) []int {
	if labels == nil {
		return nil
	}
	return labels[lo:hi]
}

// withOneHot writes each of the n rows of src (width values each) to dst
// followed by the one-hot encoding of its label among classes, and
// returns dst[:n·(width+classes)].
func withOneHot(dst, src []float32, labels []int, width, classes, n int) []float32 {
	w := width + classes
	dst = dst[:n*w]
	for r := range n {
		row := dst[r*w : (r+1)*w]
		copy(row, src[r*width:(r+1)*width])
		clear(row[width:])
		row[width+labels[r]] = 1
	}
	return dst
}

// encoderInput returns the encoder's input for the n rows of x: x itself,
// or for a conditional model x with the one-hot labels appended, in the
// workspace.
func (m *Model) encoderInput(x []float32, labels []int, n int) []float32 {
	if m.cfg.Classes == 0 {
		return x
	}
	return withOneHot(m.ws.xc, x, labels, m.cfg.Input, m.cfg.Classes, n)
}

// decoderInput is encoderInput for z and the decoder.
func (m *Model) decoderInput(z []float32, labels []int, n int) []float32 {
	if m.cfg.Classes == 0 {
		return z
	}
	return withOneHot(m.ws.zc, z, labels, m.cfg.Latent, m.cfg.Classes, n)
}

// rows returns n = len(x)/width and panics unless that is a positive whole
// number of rows and labels fits them (see checkLabels).
func (m *Model) rows(op string, x []float32, width int, labels []int) int {
	if len(x) == 0 || len(x)%width != 0 {
		panic(fmt.Sprintf("vae: %s: len=%d is not a positive multiple of %d", op, len(x), width))
	}
	n := len(x) / width
	m.checkLabels(op, labels, n)
	return n
}

func (m *Model) checkOut(op string, dst []float32, n int) {
	if len(dst) != n*m.cfg.Input {
		panic(fmt.Sprintf("vae: %s: len(dst)=%d, want %d rows × Input=%d", op, len(dst), n, m.cfg.Input))
	}
}

// chunks calls f on consecutive row ranges of at most the buffers' capacity
// (128 rows when nothing was reserved yet), so inference on a whole data
// set needs no bigger buffers than training.
func (m *Model) chunks(n int, f func(lo, hi int)) {
	if m.ws.cap == 0 {
		m.Reserve(128)
	}
	for lo := 0; lo < n; lo += m.ws.cap {
		f(lo, min(lo+m.ws.cap, n))
	}
}

// encode runs the encoder on its input x (n rows, see encoderInput) and
// returns mu and logvar, views of the workspace.
func (m *Model) encode(x []float32, n int) (mu, logvar []float32) {
	ws := &m.ws
	h := x
	for i, l := range m.enc {
		a := ws.enc[i][:n*l.Out]
		l.Forward(a, h)
		kernels.ReLU(a, a)
		h = a
	}
	L := m.cfg.Latent
	hd := ws.heads[:n*2*L]
	m.heads.Forward(hd, h)
	mu, logvar = ws.mu[:n*L], ws.logvar[:n*L]
	for r := range n {
		row := hd[r*2*L : (r+1)*2*L]
		copy(mu[r*L:(r+1)*L], row[:L])
		copy(logvar[r*L:(r+1)*L], row[L:])
	}
	return mu, logvar
}

// decode runs the decoder on its input z (n rows, see decoderInput) and
// writes its last layer's output, logits or means, to out; the hidden
// layers' outputs go to hidden[j], of at least n rows each.
func (m *Model) decode(out, z []float32, hidden [][]float32, n int) {
	h := z
	last := len(m.dec) - 1
	for j, l := range m.dec {
		a := out
		if j < last {
			a = hidden[j][:n*l.Out]
		}
		l.Forward(a, h)
		if j < last {
			kernels.ReLU(a, a)
		}
		h = a
	}
}

// decodeOutput decodes z (given labels, for a conditional model) into dst
// and turns Bernoulli logits into probabilities.
func (m *Model) decodeOutput(dst, z []float32, labels []int, n int) {
	m.decode(dst, m.decoderInput(z, labels, n), m.ws.dec, n)
	if m.cfg.Decoder == Bernoulli {
		kernels.Sigmoid(dst, dst)
	}
}

// forward computes the losses of x (n rows, labelled by labels when the
// model is conditional) with ε from r, leaving every activation, and the
// gradient of the reconstruction loss with respect to the decoder's output,
// in the workspace for backward.
func (m *Model) forward(x []float32, labels []int, n int, r *rand.Rand) Stats {
	ws := &m.ws
	L, D := m.cfg.Latent, m.cfg.Input
	mu, logvar := m.encode(m.encoderInput(x, labels, n), n)
	eps, z := ws.eps[:n*L], ws.z[:n*L]
	if m.fixedEps != nil {
		copy(eps, m.fixedEps)
	} else {
		nn.Normal(eps, r)
	}
	kl := kernels.ReparamKL(z, mu, logvar, eps)
	last := len(m.dec) - 1
	out, dOut := ws.dec[last][:n*D], ws.dDec[last][:n*D]
	m.decode(out, m.decoderInput(z, labels, n), ws.dec, n)
	var rec float64
	if m.cfg.Decoder == Bernoulli {
		rec = kernels.BCEWithLogits(dOut, out, x, 1)
	} else {
		rec = kernels.SquaredError(dOut, out, x, m.recScale)/(m.cfg.Sigma*m.cfg.Sigma) + float64(float64(n)*m.recConst)
	}
	// The conversions keep the compiler from fusing into FMAs on some
	// architectures only: the reported losses, too, are the same everywhere.
	return Stats{N: n, Loss: rec + float64(m.klWeight*kl), Recon: rec, KL: kl}
}

// backward turns the workspace left by forward of x into parameter
// gradients or, with update, into the current Adam update of every
// parameter (see TrainStep).
func (m *Model) backward(x []float32, n int, update bool) {
	ws := &m.ws
	L, C := m.cfg.Latent, m.cfg.Classes
	if C > 0 {
		x = ws.xc[:n*(m.cfg.Input+C)] // the encoder's input, as forward left it
	}
	layer := func(l *nn.Linear, param int, dx, dy, in []float32) {
		if update {
			l.BackwardUpdate(dx, dy, in, m.opt, param, param+1)
		} else {
			l.Backward(dx, dy, in)
		}
	}
	for j := len(m.dec) - 1; j >= 0; j-- {
		l := m.dec[j]
		dy := ws.dDec[j][:n*l.Out]
		if j == 0 && C == 0 {
			layer(l, m.decParam[j], ws.dZ[:n*L], dy, ws.z[:n*L])
			break
		}
		if j == 0 {
			// The labels' columns of the input gradient are not needed;
			// computing them keeps the layer one GEMM.
			w := L + C
			dzc := ws.dZc[:n*w]
			layer(l, m.decParam[j], dzc, dy, ws.zc[:n*w])
			for r := range n {
				copy(ws.dZ[r*L:(r+1)*L], dzc[r*w:r*w+L])
			}
			break
		}
		in, dx := ws.dec[j-1][:n*l.In], ws.dDec[j-1][:n*l.In]
		layer(l, m.decParam[j], dx, dy, in)
		kernels.ReLUBackward(dx, dx, in)
	}
	dMu, dLogvar := ws.dMu[:n*L], ws.dLogvar[:n*L]
	kernels.ReparamKLBackward(dMu, dLogvar, ws.dZ[:n*L], ws.mu[:n*L], ws.logvar[:n*L], ws.eps[:n*L], m.beta)
	dHeads := ws.dHeads[:n*2*L]
	for r := range n {
		row := dHeads[r*2*L : (r+1)*2*L]
		copy(row[:L], dMu[r*L:(r+1)*L])
		copy(row[L:], dLogvar[r*L:(r+1)*L])
	}
	k := len(m.enc)
	in, dIn := x, []float32(nil)
	if k > 0 {
		in, dIn = ws.enc[k-1][:n*m.heads.In], ws.dEnc[k-1][:n*m.heads.In]
	}
	m.headsBackward(dIn, dHeads, in, update)
	for i := k - 1; i >= 0; i-- {
		l := m.enc[i]
		a, dy := ws.enc[i][:n*l.Out], ws.dEnc[i][:n*l.Out]
		kernels.ReLUBackward(dy, dy, a)
		if i == 0 {
			layer(l, m.encParam[i], nil, dy, x)
		} else {
			layer(l, m.encParam[i], ws.dEnc[i-1][:n*l.In], dy, ws.enc[i-1][:n*l.In])
		}
	}
}

// headsBackward is backward for the heads layer, whose weight and bias are
// two Params each (mu's rows, then logvar's).
func (m *Model) headsBackward(dIn, dHeads, in []float32, update bool) {
	m.heads.Backward(dIn, dHeads, in)
	if update {
		for p := m.headParam; p < m.headParam+4; p++ {
			m.opt.Update(p)
		}
	}
}
