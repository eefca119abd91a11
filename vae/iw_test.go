package vae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/fastvae/fastvae/kernels"
	"github.com/fastvae/fastvae/nn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refNet is a float64 copy of a model's layers, for the reference
// computations of the tests, independent of the model's code: weights
// [out, in] and biases looked up by their documented names.
type refNet struct {
	cfg              Config
	enc, dec         []refLayer
	mu, logvar       refLayer
	bufA, bufB, zlab []float64
}

type refLayer struct {
	w, b    []float64
	in, out int
}

func newRefNet(m *Model) *refNet {
	p := map[string][]float64{}
	for _, q := range m.params {
		p[q.Name] = to64(q.Value)
	}
	cfg := m.cfg
	layer := func(name string, out int) refLayer {
		w := p[name+".weight"]
		return refLayer{w, p[name+".bias"], len(w) / out, out}
	}
	k := len(cfg.Hidden)
	r := &refNet{cfg: cfg}
	for i, h := range cfg.Hidden {
		r.enc = append(r.enc, layer("fc"+strconv.Itoa(i+1), h))
	}
	head := "fc" + strconv.Itoa(k+1)
	r.mu, r.logvar = layer(head+"1", cfg.Latent), layer(head+"2", cfg.Latent)
	for j := range k {
		r.dec = append(r.dec, layer("fc"+strconv.Itoa(k+2+j), cfg.Hidden[k-1-j]))
	}
	r.dec = append(r.dec, layer("fc"+strconv.Itoa(2*k+2), cfg.Input))
	widest := cfg.Input + cfg.Classes + cfg.Latent
	for _, h := range cfg.Hidden {
		widest = max(widest, h)
	}
	r.bufA, r.bufB = make([]float64, widest), make([]float64, widest)
	return r
}

// apply sets y = x·Wᵀ + b, with ReLU when relu, and returns y.
func (l refLayer) apply(y, x []float64, relu bool) []float64 {
	y = y[:l.out]
	for o := range l.out {
		s := l.b[o]
		row := l.w[o*l.in : (o+1)*l.in]
		for i, v := range x[:l.in] {
			s += v * row[i]
		}
		if relu && s < 0 {
			s = 0
		}
		y[o] = s
	}
	return y
}

// withLabel appends the one-hot label for a conditional model.
func (r *refNet) withLabel(v []float64, label int) []float64 {
	if r.cfg.Classes == 0 {
		return v
	}
	out := append(append(r.zlab[:0], v...), make([]float64, r.cfg.Classes)...)
	out[len(v)+label] = 1
	r.zlab = out
	return out
}

func (r *refNet) encode(x []float64, label int) (mu, logvar []float64) {
	h := r.withLabel(x, label)
	a, b := r.bufA, r.bufB
	for _, l := range r.enc {
		h = l.apply(a, h, true)
		a, b = b, a
	}
	return r.mu.apply(make([]float64, r.cfg.Latent), h, false), r.logvar.apply(make([]float64, r.cfg.Latent), h, false)
}

// logPXgivenZ returns log p(x|z, label) in float64.
func (r *refNet) logPXgivenZ(x, z []float64, label int) float64 {
	h := r.withLabel(z, label)
	a, b := r.bufA, r.bufB
	last := len(r.dec) - 1
	for j, l := range r.dec {
		h = l.apply(a, h, j < last)
		a, b = b, a
	}
	var lp float64
	for i, o := range h {
		t := x[i]
		if r.cfg.Decoder == Bernoulli {
			lp -= math.Max(o, 0) + math.Log1p(math.Exp(-math.Abs(o))) - t*o
		} else {
			s2 := r.cfg.Sigma * r.cfg.Sigma
			lp -= (t-o)*(t-o)/(2*s2) + 0.5*math.Log(2*math.Pi*s2)
		}
	}
	return lp
}

func logNormal(z, mu, logvar float64) float64 {
	d := z - mu
	return -0.5 * (d*d/math.Exp(logvar) + math.Log(2*math.Pi) + logvar)
}

func logSumExp(v []float64) float64 {
	m := slices.Max(v)
	if math.IsInf(m, -1) {
		return m
	}
	var s float64
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}

// TestLogLikelihoodFormula recomputes the estimate of a few examples in
// float64 from the documented draws (generator (First+i, 0) of
// nn.StreamIW, K blocks of Latent normals, z rounded to float32 as the
// decoder sees it):
// log-weights log p(x|z) + log p(z) − log q(z|x), log-mean-exp, and the
// ELBO's mean log p(x|z) minus the exact KL. The float32 network agrees
// with the float64 one to about 1e-6 relative, so the scores to 1e-4.
func TestLogLikelihoodFormula(t *testing.T) {
	for _, cfg := range []Config{smallConfig(Bernoulli), smallConfig(Gaussian), conditionalConfig(Bernoulli), tinyConfig(Gaussian)} {
		t.Run(cfg.String(), func(t *testing.T) {
			m, err := New(cfg, 3)
			require.NoError(t, err)
			D, L := cfg.Input, cfg.Latent
			x, labels := syntheticLabeled(4, 6, D)
			if cfg.Classes == 0 {
				labels = nil
			}
			trainEpochs2 := func() {
				for range 5 {
					if labels == nil {
						m.TrainStep(x)
					} else {
						m.TrainStepLabeled(x, labels)
					}
				}
			}
			trainEpochs2()
			const K, seed, first = 7, 11, 40
			scores := make([]Score, 6)
			mean := m.LogLikelihood(scores, x, labels, IWOptions{K: K, Seed: seed, First: first})
			ref := newRefNet(m)
			var sumNLL float64
			for i := range 6 {
				label := 0
				if labels != nil {
					label = labels[i]
				}
				xi := to64(x[i*D : (i+1)*D])
				mu, logvar := ref.encode(xi, label)
				r := rand.New(rand.NewChaCha8(nn.Key(seed, nn.StreamIW, uint64(first+i), 0)))
				eps := make([]float32, K*L)
				nn.Normal(eps, r) // K < iwGroup: one group
				var logW []float64
				var rec, kl float64
				for j := range L {
					kl += 0.5 * (mu[j]*mu[j] + math.Exp(logvar[j]) - 1 - logvar[j])
				}
				for k := range K {
					z := make([]float64, L)
					var lpq float64
					for j := range L {
						z[j] = float64(float32(mu[j] + float64(eps[k*L+j])*math.Exp(logvar[j]/2)))
						lpq += logNormal(z[j], 0, 0) - logNormal(z[j], mu[j], logvar[j])
					}
					lpx := ref.logPXgivenZ(xi, z, label)
					rec += lpx
					logW = append(logW, lpx+lpq)
				}
				nll := -(logSumExp(logW) - math.Log(K))
				elbo := rec/K - kl
				assert.InDelta(t, nll, scores[i].NLL, 1e-4*math.Max(1, math.Abs(nll)), "example %d NLL", i)
				assert.InDelta(t, elbo, scores[i].ELBO, 1e-4*math.Max(1, math.Abs(elbo)), "example %d ELBO", i)
				sumNLL += scores[i].NLL
			}
			assert.InDelta(t, sumNLL/6, mean.NLL, 1e-12)
		})
	}
}

// TestLogLikelihoodIndependence: an example's score depends only on the
// model, the seed, K and its index: not on the other rows, the chunk size,
// the decoder's blocking (a block of 64 rows splits K = 150 into 64+64+22,
// and holds whole examples for K = 13), nor the thread count; it changes
// neither the parameters nor the other streams, and allocates nothing
// after its first call.
func TestLogLikelihoodIndependence(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	defer func(r int) { iwRows = r }(iwRows)
	cfg := smallConfig(Bernoulli)
	D := cfg.Input
	x := synthetic(8, 40, D)
	for _, K := range []int{1, 13, 150, 1500} {
		run := func(rows, threads, reserve int, split bool) []Score {
			iwRows = rows
			kernels.SetThreads(threads)
			m, err := New(cfg, 6)
			require.NoError(t, err)
			m.Reserve(reserve)
			s := make([]Score, 40)
			if split {
				for i := range 40 {
					m.LogLikelihood(s[i:i+1], x[i*D:(i+1)*D], nil, IWOptions{K: K, Seed: 2, First: 100 + i})
				}
			} else {
				m.LogLikelihood(s, x, nil, IWOptions{K: K, Seed: 2, First: 100})
			}
			return s
		}
		want := run(1024, 1, 16, false)
		for _, c := range []struct {
			rows, threads, reserve int
			split                  bool
		}{{64, 1, 16, false}, {1024, 1, 1, true}, {64, 2, 7, false}, {1024, 3, 128, false}, {1024, 8, 40, false}, {64, 3, 40, true}} {
			assert.Equal(t, want, run(c.rows, c.threads, c.reserve, c.split), "K=%d %+v", K, c)
		}
	}
	iwRows = 1024
	m, err := New(cfg, 6)
	require.NoError(t, err)
	before := snapshot(m)
	epsState, _ := m.epsSrc.MarshalBinary()
	evalState, _ := m.evalSrc.MarshalBinary()
	s := make([]Score, 40)
	m.LogLikelihood(s, x, nil, IWOptions{K: 50, Seed: 2})
	other := slices.Clone(s)
	m.LogLikelihood(s, x, nil, IWOptions{K: 50, Seed: 3})
	assert.NotEqual(t, other, s, "another seed draws other samples")
	assert.Equal(t, before, snapshot(m))
	e, _ := m.epsSrc.MarshalBinary()
	v, _ := m.evalSrc.MarshalBinary()
	assert.Equal(t, epsState, e, "the training stream is untouched")
	assert.Equal(t, evalState, v, "the evaluation stream is untouched")
	if !raceEnabled {
		kernels.SetThreads(1)
		assert.Zero(t, testing.AllocsPerRun(3, func() { m.LogLikelihood(s, x, nil, IWOptions{K: 50, Seed: 2}) }))
	}
	assert.PanicsWithValue(t, "vae: LogLikelihood: K=0 First=0, want K ≥ 1 and First ≥ 0", func() { m.LogLikelihood(s, x, nil, IWOptions{}) })
	assert.PanicsWithValue(t, "vae: LogLikelihood: len(scores)=3 for 40 rows", func() { m.LogLikelihood(s[:3], x, nil, IWOptions{K: 1}) })
}

// quadrature is log p(x) by numerical integration over z of a model of
// latent dimension 1 or 2, with what the comparison needs to know about
// q(z|x) against the posterior p(z|x).
type quadrature struct {
	logPX float64 // log p(x) = log ∫ p(x|z)·p(z) dz
	// quadErr estimates the integration error of logPX: its difference from
	// the same sum over every other grid point (step 2h).
	quadErr float64
	// massR is the posterior mass inside R, the box of ±qBox standard
	// deviations of q around its mean, where 5000 draws from q all fall but
	// with probability 1e-2: an estimate sees only the posterior mass there.
	massR float64
	// chi2 is the variance of w/p(x) = p(x,z)/(q(z|x)·p(x)) over z ~ q in
	// R: the relative variance of the importance weights, which by the
	// delta method gives the estimate of −log p(x) from K draws a bias of
	// about chi2/(2K) and a standard deviation of about √(chi2/K).
	chi2  float64
	modes int // local maxima of the posterior density above 1% of its peak (latent dimension 1)
}

// qBox is R's half-width in q's standard deviations: a draw of N(0, 1)
// leaves ±4.75 with probability 2e-6, so 5000 draws of up to 2 dimensions
// stay inside with probability 0.98.
const qBox = 4.75

// integrate computes the quadrature of example x (label label) on a
// uniform grid: in one dimension step 1e-3 on [−12, 12]; in two, step at
// most 0.02 and an eighth of q's smaller standard deviation, on the box
// where a step-0.1 pass over [−8, 8]² found the posterior above e^-25 of
// its peak (mass below 1e-10 is left out), widened to hold R.
func integrate(r *refNet, x []float64, label int) quadrature {
	L := r.cfg.Latent
	mu, logvar := r.encode(x, label)
	sd := []float64{math.Exp(logvar[0] / 2)}
	if L == 2 {
		sd = append(sd, math.Exp(logvar[1]/2))
	}
	logJoint := func(z []float64) float64 {
		lp := r.logPXgivenZ(x, z, label)
		for _, v := range z {
			lp += logNormal(v, 0, 0)
		}
		return lp
	}
	logQ := func(z []float64) float64 {
		var lq float64
		for j, v := range z {
			lq += logNormal(v, mu[j], logvar[j])
		}
		return lq
	}
	var axes [][]float64
	var h float64
	if L == 1 {
		h = 1e-3
		axes = [][]float64{grid(-12, 12, h)}
	} else {
		coarse := grid(-8, 8, 0.1)
		lo, hi := []float64{math.Inf(1), math.Inf(1)}, []float64{math.Inf(-1), math.Inf(-1)}
		peak := math.Inf(-1)
		vals := make([]float64, 0, len(coarse)*len(coarse))
		for _, a := range coarse {
			for _, b := range coarse {
				v := logJoint([]float64{a, b})
				vals = append(vals, v)
				peak = max(peak, v)
			}
		}
		for i, a := range coarse {
			for j, b := range coarse {
				if vals[i*len(coarse)+j] > peak-25 {
					lo[0], hi[0] = min(lo[0], a), max(hi[0], a)
					lo[1], hi[1] = min(lo[1], b), max(hi[1], b)
				}
			}
		}
		h = min(0.02, sd[0]/8, sd[1]/8)
		for j := range 2 {
			lo[j] = min(lo[j]-0.1, mu[j]-qBox*sd[j])
			hi[j] = max(hi[j]+0.1, mu[j]+qBox*sd[j])
			axes = append(axes, grid(lo[j], hi[j], h))
		}
	}
	// Points of the grid, in order, with every-other-point subsets.
	var all, even, inR, w2 []float64
	var pts [][]float64
	if L == 1 {
		for _, a := range axes[0] {
			pts = append(pts, []float64{a})
		}
	} else {
		for _, a := range axes[0] {
			for _, b := range axes[1] {
				pts = append(pts, []float64{a, b})
			}
		}
	}
	logCell := float64(L) * math.Log(h)
	var lj1 []float64
	for n, z := range pts {
		lj := logJoint(z)
		lj1 = append(lj1, lj)
		all = append(all, lj+logCell)
		isEven := n%2 == 0
		if L == 2 {
			isEven = (n/len(axes[1]))%2 == 0 && (n%len(axes[1]))%2 == 0
		}
		if isEven {
			even = append(even, lj+logCell+float64(L)*math.Ln2)
		}
		in := true
		for j, v := range z {
			in = in && math.Abs(v-mu[j]) <= qBox*sd[j]
		}
		if in {
			inR = append(inR, lj+logCell)
			w2 = append(w2, 2*lj-logQ(z)+logCell)
		}
	}
	var q quadrature
	q.logPX = logSumExp(all)
	q.quadErr = math.Abs(logSumExp(even) - q.logPX)
	q.massR = math.Exp(logSumExp(inR) - q.logPX)
	q.chi2 = math.Exp(logSumExp(w2)-2*q.logPX) - q.massR*q.massR
	if L == 1 {
		peak := slices.Max(lj1)
		for i := 1; i+1 < len(lj1); i++ {
			if lj1[i] > lj1[i-1] && lj1[i] >= lj1[i+1] && lj1[i] > peak+math.Log(0.01) {
				q.modes++
			}
		}
	}
	return q
}

func grid(lo, hi, h float64) []float64 {
	var g []float64
	for i := 0; ; i++ {
		v := lo + float64(i)*h
		if v > hi {
			return g
		}
		g = append(g, v)
	}
}

// iwKs are the sample counts compared with the quadrature.
var iwKs = []int{10, 100, 1000, 5000}

// TestLogLikelihoodQuadrature trains models of latent dimension 1 and 2 on
// 16 pixels near four prototypes, for both decoders, and compares the
// importance-sampled estimate of −log p(x) of held-out examples, and of
// images halfway between two of them, with the quadrature at K = 10, 100,
// 1000 and 5000. The weights are heavy-tailed
// (q is a Gaussian, the posterior is not), so one estimate can land far
// from its expectation; each example is therefore estimated with iwReps
// seeds, and their mean and standard error are what is compared.
//
// What holds for every example: the estimate's expectation is at least
// −log p(x) (Jensen), so the mean of the replicates may not be below the
// integral by more than four standard errors (plus the quadrature's error).
//
// Where q fits the posterior (R, the box that 5000 draws of q cover, holds
// all but 1e-3 of the posterior mass, and the weights' relative variance
// chi2 there is at most 2), the mean estimate at K = 5000 must be within
// 0.03 nats of the integral, and the means must fall with K within noise.
// Elsewhere, typically where a one-dimensional posterior has two modes
// and q covers one, the estimate converges slowly: it sees only the mass
// inside R and tends to −log p(x) − log massR until draws land on the
// other mode; those examples get the bound alone.
//
// For the data set: the mean estimate of the first seed must be below the
// mean −ELBO at every K, and the mean over examples and seeds must fall
// with K within noise.
func TestLogLikelihoodQuadrature(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the quadrature takes seconds")
	}
	for _, latent := range []int{1, 2} {
		for _, dec := range []Decoder{Bernoulli, Gaussian} {
			t.Run(fmt.Sprintf("latent=%d/%s", latent, dec), func(t *testing.T) {
				cfg := Config{Input: 16, Hidden: []int{32}, Latent: latent, Decoder: dec, Sigma: 0.3, Beta: 1}
				m, err := New(cfg, 1)
				require.NoError(t, err)
				m.Optimizer().LR = 1e-2
				x := synthetic(1, 512, cfg.Input)
				trainEpochs(m, x, 64, 40)
				n, mixtures := 24, 12
				if latent == 2 {
					n, mixtures = 8, 8
				}
				held, labels := syntheticLabeled(2, n, cfg.Input)
				// Halfway between two examples of different prototypes: a
				// one-dimensional latent space that places the prototypes
				// along a line explains such an image in two places.
				D := cfg.Input
				for i := range mixtures {
					j := (i + 1) % n
					for labels[j] == labels[i] {
						j = (j + 1) % n
					}
					for k := range D {
						held = append(held, (held[i*D+k]+held[j*D+k])/2)
					}
				}
				checkAgainstQuadrature(t, m, held, n+mixtures)
			})
		}
	}
}

// iwReps is the number of seeds each example is estimated with.
const iwReps = 16

// repStats are the mean and standard error of an example's estimates over
// the seeds.
type repStats struct{ mean, se, first float64 }

func checkAgainstQuadrature(t *testing.T, m *Model, x []float32, n int) {
	D := m.cfg.Input
	ref := newRefNet(m)
	est := map[int][]repStats{}
	firstELBO := make([]float64, n)
	for _, K := range iwKs {
		est[K] = make([]repStats, n)
		sum, sq := make([]float64, n), make([]float64, n)
		s := make([]Score, n)
		for rep := range iwReps {
			m.LogLikelihood(s, x, nil, IWOptions{K: K, Seed: uint64(rep)})
			for i, v := range s {
				sum[i] += v.NLL
				sq[i] += v.NLL * v.NLL
				if rep == 0 {
					est[K][i].first = v.NLL
					if K == 5000 {
						firstELBO[i] = v.ELBO
					}
				}
			}
		}
		for i := range n {
			mean := sum[i] / iwReps
			sdev := math.Sqrt(max(sq[i]/iwReps-mean*mean, 0) * iwReps / (iwReps - 1))
			est[K][i].mean, est[K][i].se = mean, sdev/math.Sqrt(iwReps)
		}
	}
	fitted := 0
	var meanTrue, meanELBO, worst float64
	firstMean, allMean, allVar := map[int]float64{}, map[int]float64{}, map[int]float64{}
	fitDiff := map[int]float64{}
	for i := range n {
		q := integrate(ref, to64(x[i*D:(i+1)*D]), 0)
		require.Less(t, q.quadErr, 2e-3, "example %d: the quadrature has not converged", i)
		nll := -q.logPX
		meanTrue += nll / float64(n)
		meanELBO += -firstELBO[i] / float64(n)
		fits := q.massR >= 0.99 && q.chi2 <= 5
		line := fmt.Sprintf("example %2d: integral %8.4f (±%.0e) modes %d massR %.5f chi2 %7.3g | estimate − integral:", i, nll, q.quadErr, q.modes, q.massR, q.chi2)
		for j, K := range iwKs {
			e := est[K][i]
			firstMean[K] += e.first / float64(n)
			allMean[K] += e.mean / float64(n)
			allVar[K] += e.se * e.se / float64(n*n)
			line += fmt.Sprintf(" K=%d %+.4f±%.4f", K, e.mean-nll, e.se)
			assert.GreaterOrEqual(t, e.mean, nll-4*e.se-q.quadErr-1e-4, "example %d K=%d: below the integral by more than noise", i, K)
			if !fits {
				continue
			}
			fitDiff[K] += e.mean - nll
			if j > 0 {
				p := est[iwKs[j-1]][i]
				assert.LessOrEqual(t, e.mean, p.mean+4*math.Hypot(e.se, p.se)+1e-4, "example %d: estimate rises from K=%d to K=%d", i, iwKs[j-1], K)
			}
			if K == 5000 {
				assert.InDelta(t, nll, e.mean, 0.03, "example %d: K=5000 should be within 0.03 nats", i)
				worst = max(worst, math.Abs(e.mean-nll))
			}
		}
		if fits {
			fitted++
		} else {
			line += "  (q misses posterior mass or fits it poorly: bound only)"
		}
		t.Log(line)
	}
	line := fmt.Sprintf("%d of %d examples fitted; their mean estimate − integral:", fitted, n)
	for _, K := range iwKs {
		line += fmt.Sprintf(" K=%d %+.4f", K, fitDiff[K]/float64(max(fitted, 1)))
	}
	t.Logf("%s; worst |K=5000 − integral| %.4f", line, worst)
	t.Logf("data set: integral %.4f, −ELBO %.4f, IW (first seed)%s", meanTrue, meanELBO, fmtMeans(firstMean))
	require.GreaterOrEqual(t, fitted, n/3, "q should fit a good part of the posteriors")
	for j, K := range iwKs {
		assert.Less(t, firstMean[K], meanELBO, "K=%d: IW NLL must be below the ELBO loss", K)
		if j > 0 {
			prev := iwKs[j-1]
			tol := 4 * math.Sqrt(allVar[K]+allVar[prev])
			assert.LessOrEqual(t, allMean[K], allMean[prev]+tol, "mean IW NLL must fall from K=%d to K=%d", prev, K)
		}
	}
}

func fmtMeans(v map[int]float64) string {
	s := ""
	for _, K := range iwKs {
		s += fmt.Sprintf(" K=%d %.4f", K, v[K])
	}
	return s
}
