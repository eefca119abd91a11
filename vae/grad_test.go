package vae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// refLoss is an independent float64 transcription of the model's loss:
// the sum over the batch of reconstruction + beta·KL, with ε given. p maps
// the documented PyTorch-style names to weights ([out, in]) and biases.
// A conditional model (cfg.Classes > 0) appends the one-hot labels to x and
// to z, as torch.cat does.
func refLoss(cfg Config, p map[string][]float64, x, eps []float64, labels []int) float64 {
	D, L, k, C := cfg.Input, cfg.Latent, len(cfg.Hidden), cfg.Classes
	n := len(x) / D
	cat := func(a []float64, width int) []float64 {
		if C == 0 {
			return a
		}
		out := make([]float64, 0, n*(width+C))
		for r := range n {
			out = append(out, a[r*width:(r+1)*width]...)
			oh := make([]float64, C)
			oh[labels[r]] = 1
			out = append(out, oh...)
		}
		return out
	}
	name := func(i int) string { return "fc" + strconv.Itoa(i) }
	linear := func(layer string, in []float64, din, dout int, relu bool) []float64 {
		w, b := p[layer+".weight"], p[layer+".bias"]
		out := make([]float64, n*dout)
		for r := range n {
			for o := range dout {
				s := b[o]
				for i := range din {
					s += in[r*din+i] * w[o*din+i]
				}
				if relu && s < 0 {
					s = 0
				}
				out[r*dout+o] = s
			}
		}
		return out
	}
	h, width := cat(x, D), D+C
	for i, hd := range cfg.Hidden {
		h, width = linear(name(i+1), h, width, hd, true), hd
	}
	mu := linear(name(k+1)+"1", h, width, L, false)
	logvar := linear(name(k+1)+"2", h, width, L, false)
	z := make([]float64, n*L)
	var kl float64
	for i := range z {
		z[i] = mu[i] + eps[i]*math.Exp(logvar[i]/2)
		kl += -0.5 * (1 + logvar[i] - mu[i]*mu[i] - math.Exp(logvar[i]))
	}
	h, width = cat(z, L), L+C
	for j := range k {
		hd := cfg.Hidden[k-1-j]
		h, width = linear(name(k+2+j), h, width, hd, true), hd
	}
	out := linear(name(2*k+2), h, width, D, false)
	var rec float64
	for i, o := range out {
		t := x[i]
		if cfg.Decoder == Bernoulli {
			rec += math.Max(o, 0) + math.Log1p(math.Exp(-math.Abs(o))) - t*o
		} else {
			rec += (t - o) * (t - o) / (2 * cfg.Sigma * cfg.Sigma)
		}
	}
	if cfg.Decoder == Gaussian {
		rec += float64(n*D) / 2 * math.Log(2*math.Pi*cfg.Sigma*cfg.Sigma)
	}
	return rec + cfg.Beta*kl
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// TestGradient compares every parameter gradient of the model with float64
// central finite differences of refLoss, with ε fixed, for both decoders,
// beta ≠ 1 (configured, or set by SetBeta as in a warm-up), several depths,
// and conditional models. The model works in float32 on sums of at most a
// few dozen terms of order 1, so its gradients agree to within
// 2e-4 + 1e-3·|g|; a wrong sign, factor or transposition is off by far more.
func TestGradient(t *testing.T) {
	const n, h = 4, 1e-6
	depths := [][]int{{5, 4}, {7}, {}}
	impls.Each(t, func(t *testing.T) {
		for _, dec := range []Decoder{Bernoulli, Gaussian} {
			for _, hidden := range depths {
				for _, classes := range []int{0, 3} {
					cfg := tinyConfig(dec)
					cfg.Hidden, cfg.Classes = hidden, classes
					t.Run(fmt.Sprintf("%s/hidden=%v/classes=%d", dec, hidden, classes), func(t *testing.T) {
						checkGradient(t, cfg, cfg.Beta, n, h)
					})
				}
			}
			cfg := tinyConfig(dec)
			cfg.Classes = 2
			t.Run(fmt.Sprintf("%s/classes=2/warm-up beta=0.25", dec), func(t *testing.T) { checkGradient(t, cfg, 0.25, n, h) })
		}
	})
}

// checkGradient runs the gradient check on a model of configuration cfg
// whose KL weight in effect is beta.
func checkGradient(t *testing.T, cfg Config, beta float64, n int, h float64) {
	m, err := New(cfg, 3)
	require.NoError(t, err)
	m.SetBeta(beta)
	cfg.Beta = beta // what refLoss weighs the KL with
	r := rand.New(rand.NewPCG(4, 5))
	x := make([]float32, n*cfg.Input)
	for i := range x {
		x[i] = r.Float32()
	}
	var labels []int
	if cfg.Classes > 0 {
		labels = []int{1, 0, 1, cfg.Classes - 1}[:n]
	}
	m.fixedEps = make([]float32, n*cfg.Latent)
	for i := range m.fixedEps {
		m.fixedEps[i] = float32(r.NormFloat64())
	}
	m.Reserve(n)
	st := m.forward(x, labels, n, nil)
	m.backward(x, n, false)

	p := map[string][]float64{}
	for _, q := range m.params {
		p[q.Name] = to64(q.Value)
	}
	x64, eps64 := to64(x), to64(m.fixedEps)
	want := refLoss(cfg, p, x64, eps64, labels)
	assert.InEpsilon(t, want, st.Loss, 1e-5, "loss")
	assert.InDelta(t, st.Recon+cfg.Beta*st.KL, st.Loss, 1e-9*math.Abs(st.Loss))
	checked := 0
	for _, q := range m.params {
		v := p[q.Name]
		for i := range v {
			orig := v[i]
			v[i] = orig + h
			up := refLoss(cfg, p, x64, eps64, labels)
			v[i] = orig - h
			down := refLoss(cfg, p, x64, eps64, labels)
			v[i] = orig
			fd := (up - down) / (2 * h)
			g := float64(q.Grad[i])
			if !assert.InDelta(t, fd, g, 2e-4+1e-3*math.Abs(fd), "%s[%d]", q.Name, i) {
				return
			}
			checked++
		}
	}
	require.Positive(t, checked)
}
