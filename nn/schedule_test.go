package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fastvae/fastvae/internal/fixture"
)

// torchStepLR and torchCosineLR transcribe the get_lr recursions of
// torch.optim.lr_scheduler.StepLR and CosineAnnealingLR (as in PyTorch
// 1.13 to 2.x), stepped once per epoch: they return the rate of epochs
// 0 … n−1.
func torchStepLR(base, gamma float64, stepSize, n int) []float64 {
	lr, out := base, []float64{}
	for e := range n {
		if e != 0 && e%stepSize == 0 {
			lr *= gamma
		}
		out = append(out, lr)
	}
	return out
}

func torchCosineLR(base, etaMin float64, tMax, n int) []float64 {
	lr, out := base, []float64{}
	T := float64(tMax)
	for e := range n {
		t := float64(e)
		switch {
		case e == 0:
		case (e-1-tMax)%(2*tMax) == 0:
			lr = lr + (base-etaMin)*(1-math.Cos(math.Pi/T))/2
		default:
			lr = (1+math.Cos(math.Pi*t/T))/(1+math.Cos(math.Pi*(t-1)/T))*(lr-etaMin) + etaMin
		}
		out = append(out, lr)
	}
	return out
}

// lrCase is a schedule and how many epochs to compare, beyond T for the
// cosine so that its second half-period is covered too.
type lrCase struct {
	s      LRSchedule
	epochs int
}

var lrCases = []lrCase{
	{LRSchedule{Kind: StepLR, Base: 1e-3, StepSize: 3, Gamma: 0.1}, 20},
	{LRSchedule{Kind: StepLR, Base: 0.05, StepSize: 1, Gamma: 0.95}, 60},
	{LRSchedule{Kind: StepLR, Base: 3e-4, StepSize: 7, Gamma: 0.5}, 40},
	{LRSchedule{Kind: CosineLR, Base: 1e-3, T: 10}, 31},
	{LRSchedule{Kind: CosineLR, Base: 1e-3, T: 50, Min: 1e-5}, 160},
	{LRSchedule{Kind: CosineLR, Base: 0.1, T: 1}, 5},
	{LRSchedule{Kind: CosineLR, Base: 2e-3, T: 7, Min: 1e-4}, 30},
}

// cosineTol bounds the difference between the closed form and PyTorch's
// recursion: every step multiplies the rate's distance to Min by a ratio
// of cosines carrying a few ULP, and 1 + cos and 1 − cos cancel near the
// ends, which costs at most T² ULP; over the epochs compared that is below
// 1e-12 of Base. A wrong formula is off by far more.
const cosineTol = 1e-12

// TestLRScheduleMatchesPyTorchFormulas compares every rate with the
// transcribed recursions: StepLR bit for bit, CosineLR within cosineTol.
func TestLRScheduleMatchesPyTorchFormulas(t *testing.T) {
	for _, c := range lrCases {
		t.Run(c.s.String(), func(t *testing.T) {
			require.NoError(t, c.s.Validate())
			var want []float64
			if c.s.Kind == StepLR {
				want = torchStepLR(c.s.Base, c.s.Gamma, c.s.StepSize, c.epochs)
			} else {
				want = torchCosineLR(c.s.Base, c.s.Min, c.s.T, c.epochs)
			}
			checkRates(t, c, want)
		})
	}
}

func checkRates(t *testing.T, c lrCase, want []float64) {
	t.Helper()
	require.Len(t, want, c.epochs)
	var worst float64
	for e, w := range want {
		got := c.s.LR(e)
		if c.s.Kind == StepLR {
			require.Equal(t, w, got, "epoch %d", e)
			continue
		}
		require.InDelta(t, w, got, cosineTol*c.s.Base, "epoch %d", e)
		worst = max(worst, math.Abs(got-w)/c.s.Base)
	}
	if c.s.Kind == CosineLR {
		t.Logf("largest difference %.2g of the base rate", worst)
	}
}

// TestLRScheduleClosedForm pins the definitions: the cosine's ends and
// middle are exact, the step schedule is Base·Gamma^⌊e/StepSize⌋ (to
// rounding), and constant is constant.
func TestLRScheduleClosedForm(t *testing.T) {
	cos := LRSchedule{Kind: CosineLR, Base: 1e-3, T: 10, Min: 1e-5}
	assert.Equal(t, 1e-3, cos.LR(0))
	assert.Equal(t, 1e-5, cos.LR(10))
	assert.Equal(t, 1e-5+(1e-3-1e-5)/2, cos.LR(5))
	assert.Equal(t, 1e-3, cos.LR(20), "the cosine's period is 2T, as PyTorch's")
	for e := range 11 {
		want := 1e-5 + (1e-3-1e-5)*(1+math.Cos(math.Pi*float64(e)/10))/2
		assert.InDelta(t, want, cos.LR(e), 1e-18, "epoch %d", e)
		if e > 0 {
			assert.Less(t, cos.LR(e), cos.LR(e-1), "falls until T")
		}
	}
	step := LRSchedule{Kind: StepLR, Base: 0.1, StepSize: 4, Gamma: 0.5}
	for e := range 30 {
		assert.InEpsilon(t, 0.1*math.Pow(0.5, float64(e/4)), step.LR(e), 1e-15, "epoch %d", e)
	}
	c := LRSchedule{Kind: ConstantLR, Base: 3e-4}
	assert.Equal(t, 3e-4, c.LR(0))
	assert.Equal(t, 3e-4, c.LR(1000))
	assert.Panics(t, func() { c.LR(-1) })
}

func TestLRScheduleValidate(t *testing.T) {
	bad := []struct {
		s   LRSchedule
		msg string
	}{
		{LRSchedule{Kind: StepLR, Base: 1e-3, Gamma: 0.1}, "step size=0"},
		{LRSchedule{Kind: StepLR, Base: 1e-3, StepSize: 1, Gamma: math.NaN()}, "gamma=NaN"},
		{LRSchedule{Kind: CosineLR, Base: 1e-3}, "T=0"},
		{LRSchedule{Kind: CosineLR, Base: 1e-3, T: 3, Min: -1}, "minimum lr=-1"},
		{LRSchedule{Kind: ConstantLR, Base: math.Inf(1)}, "lr=+Inf"},
		{LRSchedule{Kind: 9, Base: 1}, "kind 9 unknown"},
	}
	for _, b := range bad {
		err := b.s.Validate()
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), b.msg)
		}
	}
	for _, name := range []string{"constant", "step", "cosine"} {
		k, err := ParseLRKind(name)
		require.NoError(t, err)
		assert.Equal(t, name, k.String())
	}
	_, err := ParseLRKind("linear")
	assert.EqualError(t, err, `unknown learning-rate schedule "linear" (want constant, step or cosine)`)
	assert.Equal(t, "cosine lr=0.001 T=10 min=0", LRSchedule{Kind: CosineLR, Base: 1e-3, T: 10}.String())
}

// TestCosPi bounds cosPi's error against math.Cos by 4e-16 absolute
// (math.Cos(math.Pi·x) itself carries the rounding of π·x, about
// 2e-16·|π·x|, so the comparison stays on moderate x), and checks the
// exact values and symmetries.
func TestCosPi(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 200000 {
		x := 8 * (r.Float64() - 0.5)
		want := math.Cos(math.Pi * x)
		require.InDelta(t, want, cosPi(x), 4e-16+2.3e-16*math.Abs(math.Pi*x), "cosPi(%v)", x)
	}
	for k := -6; k <= 6; k++ {
		assert.Equal(t, 0.0, math.Abs(cosPi(float64(k)+0.5)), "cosPi(%d.5)", k)
		assert.Equal(t, 1-2*float64(((k%2)+2)%2), cosPi(float64(k)), "cosPi(%d)", k)
	}
	assert.Equal(t, cosPi(0.3), cosPi(-0.3))
	assert.Equal(t, cosPi(0.375), -cosPi(0.625))
	assert.InDelta(t, math.Sqrt2/2, cosPi(0.25), 1.2e-16)
}

// torchLRScript prints, as JSON, the rate PyTorch's StepLR or
// CosineAnnealingLR sets for each epoch (read before the epoch's
// scheduler.step()) for every case given as JSON on the command line.
const torchLRScript = `
import json, sys, torch
torch.set_num_threads(1)
out = []
for kind, base, a, b, epochs in json.loads(sys.argv[1]):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    if kind == 'step':
        s = torch.optim.lr_scheduler.StepLR(opt, step_size=a, gamma=b)
    else:
        s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a, eta_min=b)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]['lr'])
        opt.step()
        s.step()
    out.append(rates)
print(json.dumps(out))
`

// TestLRScheduleMatchesPyTorch runs PyTorch's schedulers themselves:
// StepLR bit for bit, CosineAnnealingLR within cosineTol.
func TestLRScheduleMatchesPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: PyTorch takes seconds to start")
	}
	py := fixture.TorchPython(t)
	var args [][]any
	for _, c := range lrCases {
		if c.s.Kind == StepLR {
			args = append(args, []any{"step", c.s.Base, c.s.StepSize, c.s.Gamma, c.epochs})
		} else {
			args = append(args, []any{"cosine", c.s.Base, c.s.T, c.s.Min, c.epochs})
		}
	}
	js, err := json.Marshal(args)
	require.NoError(t, err)
	out, err := exec.Command(py, "-c", torchLRScript, string(js)).Output()
	require.NoError(t, err, "%s", out)
	var rates [][]float64
	require.NoError(t, json.Unmarshal(out, &rates), "%s", out)
	require.Len(t, rates, len(lrCases))
	for i, c := range lrCases {
		t.Run(fmt.Sprint(c.s), func(t *testing.T) { checkRates(t, c, rates[i]) })
	}
}
