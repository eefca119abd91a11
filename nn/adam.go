package nn

import "github.com/fastvae/fastvae/kernels"

// Adam is the Adam optimizer with PyTorch's semantics (torch.optim.Adam
// without weight decay or amsgrad) over a registry of parameters. Its fields
// are its whole state, so a checkpoint can save and restore it exactly.
type Adam struct {
	LR, Beta1, Beta2, Eps float32
	// Steps counts the updates applied so far; the next Step is number Steps+1.
	Steps  int
	Params []*Param
	// M and V are the first and second moment estimates, one slice per
	// Param, of its length ("exp_avg" and "exp_avg_sq" in PyTorch).
	M, V [][]float32
}

// NewAdam returns an optimizer over params with PyTorch's defaults:
// lr 1e-3, betas (0.9, 0.999), eps 1e-8, and zero moments.
func NewAdam(params []*Param) *Adam {
	a := &Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Params: params}
	for _, p := range params {
		a.M = append(a.M, make([]float32, len(p.Value)))
		a.V = append(a.V, make([]float32, len(p.Value)))
	}
	return a
}

// Step applies one update to every parameter from its current gradient.
func (a *Adam) Step() {
	a.Begin()
	for i := range a.Params {
		a.Update(i)
	}
}

// Begin starts update number Steps+1, which Update then applies parameter
// by parameter: a training step can update each layer as soon as its
// gradients are known, while they are still in cache. Each parameter is to
// be updated once before the next Begin.
func (a *Adam) Begin() { a.Steps++ }

// Update applies the current update to Params[i] from its gradient.
func (a *Adam) Update(i int) {
	p := a.Params[i]
	kernels.AdamStep(p.Value, p.Grad, a.M[i], a.V[i], a.LR, a.Beta1, a.Beta2, a.Eps, a.Steps)
}
