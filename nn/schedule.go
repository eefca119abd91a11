package nn

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// LRKind names a learning-rate schedule.
type LRKind int

const (
	// ConstantLR keeps the base rate.
	ConstantLR LRKind = iota
	// StepLR multiplies the rate by Gamma every StepSize epochs, as
	// torch.optim.lr_scheduler.StepLR does.
	StepLR
	// CosineLR anneals the rate from Base to Min along a cosine over T
	// epochs, as torch.optim.lr_scheduler.CosineAnnealingLR does.
	CosineLR
)

// String returns "constant", "step" or "cosine", the names ParseLRKind
// accepts.
func (k LRKind) String() string {
	switch k {
	case ConstantLR:
		return "constant"
	case StepLR:
		return "step"
	case CosineLR:
		return "cosine"
	}
	return "LRKind(" + strconv.Itoa(int(k)) + ")"
}

// ParseLRKind returns the LRKind named s.
func ParseLRKind(s string) (LRKind, error) {
	for _, k := range []LRKind{ConstantLR, StepLR, CosineLR} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown learning-rate schedule %q (want constant, step or cosine)", s)
}

// LRSchedule gives the learning rate of each epoch as a closed form of the
// epoch number alone, so that a resumed run needs only the epoch to
// continue the schedule exactly. The rates are those PyTorch's schedulers
// set when stepped once per epoch (scheduler.step() after each epoch).
type LRSchedule struct {
	Kind LRKind
	Base float64 // the initial rate η₀
	// StepLR: the rate is multiplied by Gamma after every StepSize epochs.
	StepSize int
	Gamma    float64
	// CosineLR: the rate falls from Base to Min over T epochs (T_max and
	// eta_min of CosineAnnealingLR).
	T   int
	Min float64
}

// Validate reports what is wrong with s, or nil.
func (s LRSchedule) Validate() error {
	var errs []error
	finite := func(name string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			errs = append(errs, fmt.Errorf("%s=%v must be non-negative and finite", name, v))
		}
	}
	finite("lr", s.Base)
	switch s.Kind {
	case ConstantLR:
	case StepLR:
		if s.StepSize < 1 {
			errs = append(errs, fmt.Errorf("step size=%d must be at least 1", s.StepSize))
		}
		finite("gamma", s.Gamma)
	case CosineLR:
		if s.T < 1 {
			errs = append(errs, fmt.Errorf("cosine period T=%d epochs must be at least 1", s.T))
		}
		finite("minimum lr", s.Min)
	default:
		errs = append(errs, fmt.Errorf("schedule kind %d unknown", int(s.Kind)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid learning-rate schedule: %w", errors.Join(errs...))
	}
	return nil
}

// LR returns the learning rate of epoch e, counted from 0: the rate in
// force after e calls of PyTorch's scheduler.step().
//
// StepLR gives Base·Gamma^⌊e/StepSize⌋, computed as PyTorch does, by one
// multiplication by Gamma per StepSize epochs, so the bits are PyTorch's.
// CosineLR gives Min + (Base − Min)·(1 + cos(π·e/T))/2, the closed form of
// CosineAnnealingLR's recursion (PyTorch's own values carry the recursion's
// rounding, within 1e-14 relative of these). Past T the cosine goes on
// as PyTorch's does, back up towards Base over the next T epochs; train
// for T epochs to end at Min. The cosine is computed with only correctly
// rounded operations, so the rate is the same on every architecture and
// exact at e = T/2 and e = T. LR panics when e < 0.
func (s LRSchedule) LR(e int) float64 {
	if e < 0 {
		panic(fmt.Sprintf("nn: LRSchedule.LR: epoch %d < 0", e))
	}
	switch s.Kind {
	case StepLR:
		lr := s.Base
		for range e / s.StepSize {
			lr *= s.Gamma
		}
		return lr
	case CosineLR:
		c := cosPi(float64(e) / float64(s.T))
		return s.Min + float64((s.Base-s.Min)*float64(1+c))/2
	}
	return s.Base
}

// String describes s compactly, e.g. "cosine lr=0.001 T=10 min=0".
func (s LRSchedule) String() string {
	switch s.Kind {
	case StepLR:
		return fmt.Sprintf("step lr=%g step=%d gamma=%g", s.Base, s.StepSize, s.Gamma)
	case CosineLR:
		return fmt.Sprintf("cosine lr=%g T=%d min=%g", s.Base, s.T, s.Min)
	}
	return fmt.Sprintf("%s lr=%g", s.Kind, s.Base)
}

// Taylor coefficients of cos and sin: cosTerms[n] = (−1)ⁿ/(2n)!,
// sinTerms[n] = (−1)ⁿ/(2n+1)!, by correctly rounded operations so they are
// the same everywhere.
var cosTerms, sinTerms = func() (c, s [11]float64) {
	f := 1.0 // k!
	for k := 0; k < 2*len(c); k++ {
		if k > 0 {
			f *= float64(k)
		}
		sign := 1.0
		if k/2%2 == 1 {
			sign = -1
		}
		if k%2 == 0 {
			c[k/2] = sign / f
		} else {
			s[k/2] = sign / f
		}
	}
	return c, s
}()

// cosPi returns cos(π·x) to within a few ULP, with the same bits on every
// architecture: x is reduced exactly to [0, ¼], where cos or sin of π·x (at
// most π/4) is summed to 11 terms of its Taylor series (the remainder is
// below 1e-20), every product rounded before the following sum so that no
// FMA alters the bits. Half-integers give exactly 0 and integers ±1. x must
// be finite and below 2⁵².
func cosPi(x float64) float64 {
	x = math.Abs(x)
	x -= 2 * math.Floor(x/2) // exact: [0, 2)
	if x > 1 {
		x = 2 - x // cos(π(2−x)) = cos(πx); exact
	}
	sign := 1.0
	if x > 0.5 {
		x, sign = 1-x, -1 // cos(π(1−x)) = −cos(πx); exact
	}
	series := func(y float64, terms *[11]float64) float64 {
		y2 := float64(y * y)
		p := terms[len(terms)-1]
		for k := len(terms) - 2; k >= 0; k-- {
			p = float64(p*y2) + terms[k]
		}
		return p
	}
	if x <= 0.25 {
		return sign * series(float64(math.Pi*x), &cosTerms)
	}
	y := float64(math.Pi * (0.5 - x)) // cos(πx) = sin(π(½−x)); ½−x is exact
	return sign * float64(y*series(y, &sinTerms))
}
