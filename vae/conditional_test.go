package vae

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/fastvae/fastvae/kernels"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syntheticLabeled is synthetic with the labels: example i is near
// prototype labels[i] (of 4, the same for every seed).
func syntheticLabeled(seed uint64, n, d int) ([]float32, []int) {
	pr := rand.New(rand.NewPCG(uint64(d), 98))
	p := make([]float32, 4*d)
	for i := range p {
		p[i] = pr.Float32()
	}
	r := rand.New(rand.NewPCG(seed, 97))
	x, labels := make([]float32, n*d), make([]int, n)
	for i := range n {
		k := r.IntN(4)
		labels[i] = k
		for j := range d {
			x[i*d+j] = min(max(p[k*d+j]+0.1*float32(r.NormFloat64()), 0), 1)
		}
	}
	return x, labels
}

// conditionalConfig is smallConfig with 4 classes.
func conditionalConfig(d Decoder) Config {
	c := smallConfig(d)
	c.Classes = 4
	return c
}

// TestConditionalNames: a conditional model keeps the example's names;
// fc1 takes the image and the one-hot label, fc3 z and the label.
func TestConditionalNames(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Classes = 10
	assert.Equal(t, []string{
		"fc1.weight[400 794]", "fc1.bias[400]",
		"fc21.weight[20 400]", "fc21.bias[20]", "fc22.weight[20 400]", "fc22.bias[20]",
		"fc3.weight[400 30]", "fc3.bias[400]",
		"fc4.weight[784 400]", "fc4.bias[784]",
	}, paramNames(t, cfg))
	assert.Equal(t, "784-400-20 bernoulli beta=1 classes=10", cfg.String())
	assert.False(t, cfg.Equal(DefaultConfig()))
	cfg.Classes = -1
	assert.ErrorContains(t, cfg.Validate(), "classes=-1 out of range")
}

// TestConditionalLabelChecks: labels must fit the model, one per row, in
// range; the unlabeled calls refuse a conditional model.
func TestConditionalLabelChecks(t *testing.T) {
	cfg := conditionalConfig(Bernoulli)
	m, err := New(cfg, 1)
	require.NoError(t, err)
	x, labels := syntheticLabeled(1, 3, cfg.Input)
	assert.PanicsWithValue(t, "vae: TrainStep: the model is conditional (4 classes) and needs a label per row", func() { m.TrainStep(x) })
	assert.PanicsWithValue(t, "vae: EvalLabeled: 2 labels for 3 rows", func() { m.EvalLabeled(x, labels[:2]) })
	assert.PanicsWithValue(t, "vae: TrainStepLabeled: label 4 of row 1 outside [0, 4)", func() { m.TrainStepLabeled(x, []int{0, 4, 1}) })
	assert.PanicsWithValue(t, "vae: SampleLabeled: label -1 of row 0 outside [0, 4)", func() { m.SampleLabeled(make([]float32, cfg.Input), []int{-1}) })
	assert.Panics(t, func() { m.Sample(make([]float32, cfg.Input)) })
	assert.Panics(t, func() { m.Encode(make([]float32, 3*cfg.Latent), make([]float32, 3*cfg.Latent), x) })
	u, err := New(smallConfig(Bernoulli), 1)
	require.NoError(t, err)
	assert.PanicsWithValue(t, "vae: TrainStepLabeled: labels given to an unconditional model", func() { u.TrainStepLabeled(x, labels) })

	require.NoError(t, m.SetClassNames([]string{"a", "b", "c", "d"}))
	assert.Equal(t, []string{"a", "b", "c", "d"}, m.ClassNames())
	assert.EqualError(t, m.SetClassNames([]string{"a"}), "1 class names for a model of 4 classes")
	assert.EqualError(t, m.SetClassNames([]string{"a", "b", "\xff", "d"}), "class name 2 is not valid UTF-8")
	require.NoError(t, m.SetClassNames(nil))
	assert.Nil(t, m.ClassNames())
}

// TestConditionalLearnsLabels trains a conditional model on data whose
// label names its prototype: samples given a label must then lie nearer
// that label's examples than any other label's, for both decoders, and the
// label must lower the loss against a wrong one.
func TestConditionalLearnsLabels(t *testing.T) {
	for _, dec := range []Decoder{Bernoulli, Gaussian} {
		t.Run(dec.String(), func(t *testing.T) {
			cfg := conditionalConfig(dec)
			cfg.Latent = 2
			m, err := New(cfg, 4)
			require.NoError(t, err)
			m.Optimizer().LR = 5e-3
			D := cfg.Input
			x, labels := syntheticLabeled(2, 512, D)
			for range 15 {
				for lo := 0; lo < 512; lo += 64 {
					m.TrainStepLabeled(x[lo*D:(lo+64)*D], labels[lo:lo+64])
				}
			}
			// Class means of the data.
			means := make([]float64, 4*D)
			counts := make([]float64, 4)
			for i, y := range labels {
				counts[y]++
				for j := range D {
					means[y*D+j] += float64(x[i*D+j])
				}
			}
			for y := range 4 {
				for j := range D {
					means[y*D+j] /= counts[y]
				}
			}
			const per = 50
			for y := range 4 {
				lab := make([]int, per)
				for i := range lab {
					lab[i] = y
				}
				s := make([]float32, per*D)
				m.SampleLabeled(s, lab)
				near := 0
				for i := range per {
					best, bestD := -1, math.Inf(1)
					for k := range 4 {
						var d2 float64
						for j := range D {
							d := float64(s[i*D+j]) - means[k*D+j]
							d2 += d * d
						}
						if d2 < bestD {
							best, bestD = k, d2
						}
					}
					if best == y {
						near++
					}
				}
				assert.GreaterOrEqual(t, near, per*9/10, "label %d: %d of %d samples nearest their class", y, near, per)
			}
			held, hl := syntheticLabeled(3, 200, D)
			wrong := make([]int, len(hl))
			for i, y := range hl {
				wrong[i] = (y + 1) % 4
			}
			right, bad := m.EvalLabeled(held, hl), m.EvalLabeled(held, wrong)
			t.Logf("held-out loss with the right labels %.2f, with wrong ones %.2f", right.Loss/200, bad.Loss/200)
			assert.Less(t, right.Loss, bad.Loss)
		})
	}
}

// TestConditionalThreadsBitIdentical: a conditional model trains,
// evaluates and estimates likelihoods with the same bits on 1, 2, 3 and 8
// threads.
func TestConditionalThreadsBitIdentical(t *testing.T) {
	defer kernels.SetThreads(kernels.Threads())
	cfg := DefaultConfig()
	cfg.Classes = 10
	K := 300
	if testing.Short() || kernels.Impl() == "generic" {
		cfg.Hidden, K = []int{100}, 40 // quick under qemu and in the scalar code; still two groups of samples
	}
	D := cfg.Input
	x := synthetic(6, 128+37, D)
	labels := make([]int, 128+37)
	for i := range labels {
		labels[i] = i * 7 % 10
	}
	impls.Each(t, func(t *testing.T) {
		run := func(threads int) (*Model, []Stats, []Score) {
			kernels.SetThreads(threads)
			m, err := New(cfg, 2)
			require.NoError(t, err)
			var st []Stats
			for s := range 4 {
				m.SetBeta(float64(s) / 4)
				if s%2 == 0 {
					st = append(st, m.TrainStepLabeled(x[:128*D], labels[:128]))
				} else {
					st = append(st, m.TrainStepLabeled(x[128*D:], labels[128:]))
				}
			}
			st = append(st, m.EvalLabeled(x, labels))
			scores := make([]Score, 5)
			m.LogLikelihood(scores, x[:5*D], labels[:5], IWOptions{K: K, Seed: 1})
			return m, st, scores
		}
		one, st1, sc1 := run(1)
		for _, threads := range []int{2, 3, 8} {
			m, st, sc := run(threads)
			require.Equal(t, st1, st, "threads=%d: losses", threads)
			require.Equal(t, snapshot(one), snapshot(m), "threads=%d: weights", threads)
			require.Equal(t, one.opt.M, m.opt.M, "threads=%d: first moments", threads)
			require.Equal(t, one.opt.V, m.opt.V, "threads=%d: second moments", threads)
			require.Equal(t, sc1, sc, "threads=%d: importance-sampled scores", threads)
		}
	})
}

// TestConditionalAllocs: the conditional step, with the KL weight set
// before it as a warm-up does, allocates nothing after the first batch.
func TestConditionalAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer kernels.SetThreads(kernels.Threads())
	cfg := conditionalConfig(Gaussian)
	for _, threads := range []int{1, 2} {
		kernels.SetThreads(threads)
		m, err := New(cfg, 1)
		require.NoError(t, err)
		x, labels := syntheticLabeled(5, 128, cfg.Input)
		m.TrainStepLabeled(x, labels)
		step := 0
		assert.Zero(t, testing.AllocsPerRun(5, func() {
			step++
			m.SetBeta(min(1, float64(step)/10))
			m.TrainStepLabeled(x, labels)
		}), "threads=%d: full batch", threads)
		assert.Zero(t, testing.AllocsPerRun(3, func() { m.TrainStepLabeled(x[:37*cfg.Input], labels[:37]) }), "threads=%d: smaller batch", threads)
	}
}

// TestConditionalInference: EncodeLabeled, DecodeLabeled and
// ReconstructLabeled agree with one another across chunk boundaries, and
// the label changes the decoding.
func TestConditionalInference(t *testing.T) {
	cfg := conditionalConfig(Bernoulli)
	m, err := New(cfg, 2)
	require.NoError(t, err)
	x, labels := syntheticLabeled(6, 300, cfg.Input)
	m.Reserve(64)
	m.TrainStepLabeled(x[:64*cfg.Input], labels[:64])
	L, D := cfg.Latent, cfg.Input
	mu, logvar := make([]float32, 300*L), make([]float32, 300*L)
	m.EncodeLabeled(mu, logvar, x, labels)
	one, onev := make([]float32, L), make([]float32, L)
	m.EncodeLabeled(one, onev, x[299*D:], labels[299:])
	assert.Equal(t, one, mu[299*L:])
	assert.Equal(t, onev, logvar[299*L:])
	dec, rec := make([]float32, 300*D), make([]float32, 300*D)
	m.DecodeLabeled(dec, mu, labels)
	m.ReconstructLabeled(rec, x, labels)
	assert.Equal(t, dec, rec, "ReconstructLabeled decodes the posterior mean given the label")
	other := make([]int, 300)
	for i, y := range labels {
		other[i] = (y + 1) % 4
	}
	m.DecodeLabeled(rec, mu, other)
	assert.NotEqual(t, dec[:D], rec[:D])
}

// TestConditionalResume: a conditional model under a KL warm-up (β set
// every step), saved mid-way with class names and loaded, continues bit
// for bit as the uninterrupted run.
func TestConditionalResume(t *testing.T) {
	cfg := conditionalConfig(Bernoulli)
	cfg.Beta = 0.8
	D := cfg.Input
	x, labels := syntheticLabeled(9, 150, D)
	step := 0
	epoch := func(m *Model) (st Stats) {
		for lo := 0; lo < 150; lo += 64 {
			hi := min(lo+64, 150)
			step++
			m.SetBeta(cfg.Beta * min(1, float64(step)/7)) // the ramp of a warm-up
			st.Add(m.TrainStepLabeled(x[lo*D:hi*D], labels[lo:hi]))
		}
		st.Add(m.EvalLabeled(x[:20*D], labels[:20]))
		return st
	}
	a, err := New(cfg, 5)
	require.NoError(t, err)
	var straight []Stats
	for range 4 {
		straight = append(straight, epoch(a))
	}
	step = 0
	b, err := New(cfg, 5)
	require.NoError(t, err)
	require.NoError(t, b.SetClassNames([]string{"zero", "one", "two", "three"}))
	epoch(b)
	epoch(b)
	require.NotEqual(t, cfg.Beta, b.Beta(), "saved during the warm-up")
	path := filepath.Join(t.TempDir(), "c.safetensors")
	require.NoError(t, b.Save(path, nil))
	c, _, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, b.Beta(), c.Beta())
	assert.Equal(t, []string{"zero", "one", "two", "three"}, c.ClassNames())
	assert.True(t, c.Config().Equal(cfg))
	assert.Equal(t, straight[2], epoch(c))
	assert.Equal(t, straight[3], epoch(c))
	assert.Equal(t, snapshot(a), snapshot(c))
	assert.Equal(t, a.opt.M, c.opt.M)
}
