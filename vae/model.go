package vae

import (
	"fmt"
	"math"
	"math/rand/v2"

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

	beta     float32 // Beta, as the kernels take it
	recScale float32 // gradient scale of the loss kernel: 1, or 1/σ² (Gaussian)
	recConst float64 // Gaussian: (D/2)·log(2πσ²), the NLL's constant per example

	ws workspace

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
}

// Stats are the losses of a batch in nats, summed over its N examples (the
// PyTorch example's reduction='sum'); PerExample gives what it prints.
type Stats struct {
	N     int
	Loss  float64 // Recon + Beta·KL: the negative ELBO when Beta = 1
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

// newModel builds the layers, zeroed, and the parameter registry.
func newModel(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Hidden = append([]int(nil), cfg.Hidden...) // the caller's slice stays theirs
	m := &Model{cfg: cfg, beta: float32(cfg.Beta), recScale: 1}
	if cfg.Decoder == Gaussian {
		s2 := cfg.Sigma * cfg.Sigma
		m.recScale = float32(1 / s2)
		m.recConst = float64(cfg.Input) / 2 * nn.Log(2*math.Pi*s2) // nn.Log: same bits everywhere
	}
	encNames, muName, logvarName, decNames := cfg.layerNames()
	in := cfg.Input
	for i, h := range cfg.Hidden {
		l := nn.NewLinear(in, h)
		m.enc = append(m.enc, l)
		m.encParam = append(m.encParam, len(m.params))
		m.params = append(m.params, l.Params(encNames[i])...)
		in = h
	}
	L := cfg.Latent
	m.heads = nn.NewLinear(in, 2*L)
	m.headParam = len(m.params)
	hw, hb, hdw, hdb := m.heads.W, m.heads.B, m.heads.DW, m.heads.DB
	m.params = append(m.params,
		nn.NewParam(muName+".weight", []int{L, in}, in, hw[:L*in], hdw[:L*in]),
		nn.NewParam(muName+".bias", []int{L}, in, hb[:L], hdb[:L]),
		nn.NewParam(logvarName+".weight", []int{L, in}, in, hw[L*in:], hdw[L*in:]),
		nn.NewParam(logvarName+".bias", []int{L}, in, hb[L:], hdb[L:]),
	)
	in = L
	for j := range cfg.Hidden {
		out := cfg.Hidden[len(cfg.Hidden)-1-j]
		l := nn.NewLinear(in, out)
		m.dec = append(m.dec, l)
		m.decParam = append(m.decParam, len(m.params))
		m.params = append(m.params, l.Params(decNames[j])...)
		in = out
	}
	l := nn.NewLinear(in, cfg.Input)
	m.dec = append(m.dec, l)
	m.decParam = append(m.decParam, len(m.params))
	m.params = append(m.params, l.Params(decNames[len(decNames)-1])...)
	m.opt = nn.NewAdam(m.params)
	return m, nil
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
}

// TrainStep trains on one batch x, n rows of Config.Input values
// (len(x) = n·Input): it draws ε, computes the loss, backpropagates and
// applies one Adam update. It returns the batch's losses from before the
// update. Each layer is updated as soon as backpropagation has passed it,
// while its gradients are in cache; the result is bit for bit that of
// computing every gradient and then calling Adam's Step. It panics unless
// len(x) is a positive multiple of Input.
func (m *Model) TrainStep(x []float32) Stats {
	n := m.rows("TrainStep", x, m.cfg.Input)
	m.Reserve(n)
	st := m.forward(x, n, m.epsRand)
	m.opt.Begin()
	m.backward(x, n, true)
	return st
}

// Eval returns the losses of x (n rows of Input values) with ε drawn from
// the evaluation stream, as the PyTorch example's test loop does, without
// changing the parameters or the training stream.
func (m *Model) Eval(x []float32) Stats {
	var st Stats
	m.chunks(m.rows("Eval", x, m.cfg.Input), func(lo, hi int) {
		st.Add(m.forward(x[lo*m.cfg.Input:hi*m.cfg.Input], hi-lo, m.evalRand))
	})
	return st
}

// Encode sets mu and logvar ([n, Latent] each) to the parameters of q(z|x)
// for the n rows of x. It panics unless the lengths agree.
func (m *Model) Encode(mu, logvar, x []float32) {
	n := m.rows("Encode", x, m.cfg.Input)
	L := m.cfg.Latent
	if len(mu) != n*L || len(logvar) != n*L {
		panic(fmt.Sprintf("vae: Encode: len(mu)=%d len(logvar)=%d, want %d rows × Latent=%d", len(mu), len(logvar), n, L))
	}
	m.chunks(n, func(lo, hi int) {
		cmu, clogvar := m.encode(x[lo*m.cfg.Input:hi*m.cfg.Input], hi-lo)
		copy(mu[lo*L:hi*L], cmu)
		copy(logvar[lo*L:hi*L], clogvar)
	})
}

// Decode sets dst ([n, Input]) to the decoder's output for the n rows of z
// ([n, Latent]): Bernoulli probabilities, or the Gaussian's means. It
// panics unless the lengths agree.
func (m *Model) Decode(dst, z []float32) {
	n := m.rows("Decode", z, m.cfg.Latent)
	m.checkOut("Decode", dst, n)
	L, D := m.cfg.Latent, m.cfg.Input
	m.chunks(n, func(lo, hi int) { m.decodeOutput(dst[lo*D:hi*D], z[lo*L:hi*L], hi-lo) })
}

// Sample sets the rows of dst ([n, Input]) to the decodings of z ~ N(0, I),
// drawn from the evaluation stream.
func (m *Model) Sample(dst []float32) {
	n := m.rows("Sample", dst, m.cfg.Input)
	L, D := m.cfg.Latent, m.cfg.Input
	m.chunks(n, func(lo, hi int) {
		z := m.ws.z[:(hi-lo)*L]
		nn.Normal(z, m.evalRand)
		m.decodeOutput(dst[lo*D:hi*D], z, hi-lo)
	})
}

// Reconstruct sets dst to the decodings of the posterior means of the rows
// of x (z = mu, no noise), both [n, Input].
func (m *Model) Reconstruct(dst, x []float32) {
	n := m.rows("Reconstruct", x, m.cfg.Input)
	m.checkOut("Reconstruct", dst, n)
	D := m.cfg.Input
	m.chunks(n, func(lo, hi int) {
		mu, _ := m.encode(x[lo*D:hi*D], hi-lo)
		m.decodeOutput(dst[lo*D:hi*D], mu, hi-lo)
	})
}

// rows returns len(x)/width and panics unless that is a positive whole
// number of rows.
func (m *Model) rows(op string, x []float32, width int) int {
	if len(x) == 0 || len(x)%width != 0 {
		panic(fmt.Sprintf("vae: %s: len=%d is not a positive multiple of %d", op, len(x), width))
	}
	return len(x) / width
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

// encode runs the encoder on x (n rows) and returns mu and logvar, views of
// the workspace.
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

// decode runs the decoder on z (n rows) and writes its last layer's output,
// logits or means, to out.
func (m *Model) decode(out, z []float32, n int) {
	h := z
	last := len(m.dec) - 1
	for j, l := range m.dec {
		a := out
		if j < last {
			a = m.ws.dec[j][:n*l.Out]
		}
		l.Forward(a, h)
		if j < last {
			kernels.ReLU(a, a)
		}
		h = a
	}
}

// decodeOutput decodes z into dst and turns Bernoulli logits into
// probabilities.
func (m *Model) decodeOutput(dst, z []float32, n int) {
	m.decode(dst, z, n)
	if m.cfg.Decoder == Bernoulli {
		kernels.Sigmoid(dst, dst)
	}
}

// forward computes the losses of x (n rows) with ε from r, leaving every
// activation, and the gradient of the reconstruction loss with respect to
// the decoder's output, in the workspace for backward.
func (m *Model) forward(x []float32, n int, r *rand.Rand) Stats {
	ws := &m.ws
	L, D := m.cfg.Latent, m.cfg.Input
	mu, logvar := m.encode(x, n)
	eps, z := ws.eps[:n*L], ws.z[:n*L]
	if m.fixedEps != nil {
		copy(eps, m.fixedEps)
	} else {
		nn.Normal(eps, r)
	}
	kl := kernels.ReparamKL(z, mu, logvar, eps)
	last := len(m.dec) - 1
	out, dOut := ws.dec[last][:n*D], ws.dDec[last][:n*D]
	m.decode(out, z, n)
	var rec float64
	if m.cfg.Decoder == Bernoulli {
		rec = kernels.BCEWithLogits(dOut, out, x, 1)
	} else {
		rec = kernels.SquaredError(dOut, out, x, m.recScale)/(m.cfg.Sigma*m.cfg.Sigma) + float64(float64(n)*m.recConst)
	}
	// The conversions keep the compiler from fusing into FMAs on some
	// architectures only: the reported losses, too, are the same everywhere.
	return Stats{N: n, Loss: rec + float64(m.cfg.Beta*kl), Recon: rec, KL: kl}
}

// backward turns the workspace left by forward into parameter gradients
// or, with update, into the current Adam update of every parameter (see
// TrainStep).
func (m *Model) backward(x []float32, n int, update bool) {
	ws := &m.ws
	L := m.cfg.Latent
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
		if j == 0 {
			layer(l, m.decParam[j], ws.dZ[:n*L], dy, ws.z[:n*L])
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
