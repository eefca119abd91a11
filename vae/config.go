package vae

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Decoder is the distribution p(x|z) the decoder parameterises.
type Decoder int

const (
	// Bernoulli: the decoder outputs logits, the loss is the binary
	// cross-entropy with the inputs as targets (values in [0, 1]).
	Bernoulli Decoder = iota
	// Gaussian: the decoder outputs means of a diagonal Gaussian with fixed
	// standard deviation Config.Sigma; the loss is its negative
	// log-likelihood Σ(x − μ)²/(2σ²) + (D/2)·log(2πσ²).
	Gaussian
)

// String returns "bernoulli" or "gaussian", the names ParseDecoder accepts.
func (d Decoder) String() string {
	switch d {
	case Bernoulli:
		return "bernoulli"
	case Gaussian:
		return "gaussian"
	}
	return "Decoder(" + strconv.Itoa(int(d)) + ")"
}

// ParseDecoder returns the Decoder named s ("bernoulli" or "gaussian").
func ParseDecoder(s string) (Decoder, error) {
	switch s {
	case "bernoulli":
		return Bernoulli, nil
	case "gaussian":
		return Gaussian, nil
	}
	return 0, fmt.Errorf("unknown decoder %q (want bernoulli or gaussian)", s)
}

// MarshalText implements encoding.TextMarshaler, for the checkpoint's JSON.
func (d Decoder) MarshalText() ([]byte, error) {
	if d != Bernoulli && d != Gaussian {
		return nil, fmt.Errorf("invalid decoder %d", int(d))
	}
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Decoder) UnmarshalText(b []byte) error {
	v, err := ParseDecoder(string(b))
	if err == nil {
		*d = v
	}
	return err
}

// Config describes a VAE: the encoder maps Input → Hidden[0] → … →
// Hidden[k−1] (ReLU after each) → (mu, logvar) of the Latent-dimensional
// diagonal Gaussian q(z|x); the decoder mirrors it, Latent → Hidden[k−1] →
// … → Hidden[0] (ReLU after each) → Input. The loss per input is the
// reconstruction term plus Beta times the KL divergence from N(0, I).
//
// With Classes > 0 the model is a conditional VAE (Sohn et al., 2015): the
// one-hot encoding of the example's label y is appended to the encoder's
// input, q(z|x, y), and to z at the decoder's input, p(x|z, y), so the
// first encoder layer takes Input+Classes values and the first decoder
// layer Latent+Classes.
type Config struct {
	Input   int     `json:"input"`
	Hidden  []int   `json:"hidden"`
	Latent  int     `json:"latent"`
	Decoder Decoder `json:"decoder"`
	// Sigma is the Gaussian decoder's fixed standard deviation; the
	// Bernoulli decoder ignores it.
	Sigma float64 `json:"sigma"`
	Beta  float64 `json:"beta"`
	// Classes is the number of labels of a conditional model, 0 for an
	// unconditional one.
	Classes int `json:"classes,omitempty"`
}

// DefaultConfig returns the PyTorch example's model: 784 → 400 → 20, ReLU,
// Bernoulli decoder, beta 1 (Sigma 1 should the decoder be made Gaussian).
func DefaultConfig() Config {
	return Config{Input: 784, Hidden: []int{400}, Latent: 20, Decoder: Bernoulli, Sigma: 1, Beta: 1}
}

// maxDim bounds every width so that no product of two widths, or of a width
// and a batch size, can overflow an int.
const maxDim = 1 << 24

// Validate reports what is wrong with c, or nil.
func (c Config) Validate() error {
	var errs []error
	dim := func(name string, v int) {
		if v < 1 || v > maxDim {
			errs = append(errs, fmt.Errorf("%s=%d out of range [1, %d]", name, v, maxDim))
		}
	}
	dim("input", c.Input)
	dim("latent", c.Latent)
	if c.Classes < 0 || c.Classes > maxDim {
		errs = append(errs, fmt.Errorf("classes=%d out of range [0, %d]", c.Classes, maxDim))
	}
	if len(c.Hidden) > 64 {
		errs = append(errs, fmt.Errorf("%d hidden layers, at most 64", len(c.Hidden)))
	} else {
		for i, h := range c.Hidden {
			dim(fmt.Sprintf("hidden[%d]", i), h)
		}
	}
	switch c.Decoder {
	case Bernoulli:
		if math.IsNaN(c.Sigma) || math.IsInf(c.Sigma, 0) {
			errs = append(errs, fmt.Errorf("sigma=%v must be finite", c.Sigma))
		}
	case Gaussian:
		if !(c.Sigma > 0) || math.IsInf(c.Sigma, 0) {
			errs = append(errs, fmt.Errorf("sigma=%v must be positive and finite for the gaussian decoder", c.Sigma))
		}
	default:
		errs = append(errs, fmt.Errorf("decoder=%d unknown", int(c.Decoder)))
	}
	if !(c.Beta >= 0) || math.IsInf(c.Beta, 0) {
		errs = append(errs, fmt.Errorf("beta=%v must be non-negative and finite", c.Beta))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid vae config: %w", errors.Join(errs...))
	}
	return nil
}

// String describes c compactly, e.g. "784-400-20 bernoulli beta=1".
func (c Config) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(c.Input))
	for _, h := range c.Hidden {
		b.WriteString("-" + strconv.Itoa(h))
	}
	fmt.Fprintf(&b, "-%d %s", c.Latent, c.Decoder)
	if c.Decoder == Gaussian {
		fmt.Fprintf(&b, " sigma=%g", c.Sigma)
	}
	fmt.Fprintf(&b, " beta=%g", c.Beta)
	if c.Classes > 0 {
		fmt.Fprintf(&b, " classes=%d", c.Classes)
	}
	return b.String()
}

// Equal reports whether c and o describe the same model and loss (Sigma
// counts only for the Gaussian decoder).
func (c Config) Equal(o Config) bool {
	if c.Input != o.Input || c.Latent != o.Latent || c.Decoder != o.Decoder || c.Beta != o.Beta || c.Classes != o.Classes || len(c.Hidden) != len(o.Hidden) {
		return false
	}
	if c.Decoder == Gaussian && c.Sigma != o.Sigma {
		return false
	}
	for i, h := range c.Hidden {
		if h != o.Hidden[i] {
			return false
		}
	}
	return true
}

// layerSpec is one layer of the model as checkpoints and PyTorch name it:
// a linear map of in inputs to out outputs, weight [out, in] and bias
// [out].
type layerSpec struct {
	name    string
	in, out int
	block   block
	// row is the layer's first row in the nn.Linear that holds it: 0, or
	// Latent for logvar's layer, the second half of the heads.
	row int
}

// block is the part of the model a layer belongs to.
type block int

const (
	encoderBlock block = iota
	headsBlock         // mu's and logvar's layers, one nn.Linear of 2·Latent rows
	decoderBlock
)

// layers returns the model's layers in forward order, named as the PyTorch
// example numbers them: with k hidden layers, the encoder's are fc1 … fck,
// the heads fc(k+1)1 (mu) and fc(k+1)2 (logvar), the decoder's fc(k+2) …
// fc(2k+2). For Hidden [400] that is exactly fc1, fc21, fc22, fc3, fc4. The
// names cannot collide: a head's number is at least 10(k+1)+1, above the
// last layer's 2k+2. A conditional model's first encoder and decoder
// layers take the one-hot label's Classes inputs after the others.
func (c Config) layers() []layerSpec {
	k := len(c.Hidden)
	fc := func(i int) string { return "fc" + strconv.Itoa(i) }
	var ls []layerSpec
	in := c.Input + c.Classes
	for i, h := range c.Hidden {
		ls = append(ls, layerSpec{name: fc(i + 1), in: in, out: h, block: encoderBlock})
		in = h
	}
	head := fc(k + 1)
	ls = append(ls,
		layerSpec{name: head + "1", in: in, out: c.Latent, block: headsBlock},
		layerSpec{name: head + "2", in: in, out: c.Latent, block: headsBlock, row: c.Latent})
	in = c.Latent + c.Classes
	for j := range k + 1 {
		out := c.Input
		if j < k {
			out = c.Hidden[k-1-j]
		}
		ls = append(ls, layerSpec{name: fc(k + 2 + j), in: in, out: out, block: decoderBlock})
		in = out
	}
	return ls
}

// paramSpec is one parameter: its name, its shape and the fan-in that sets
// its initialisation (see nn.InitUniform).
type paramSpec struct {
	name  string
	shape []int
	fanIn int
}

// params returns the layer's weight and bias.
func (l layerSpec) params() (weight, bias paramSpec) {
	return paramSpec{l.name + ".weight", []int{l.out, l.in}, l.in}, paramSpec{l.name + ".bias", []int{l.out}, l.in}
}

// paramSpecs lists the parameters of a model of configuration c, in the
// order of Model.Params, without allocating them.
func (c Config) paramSpecs() []paramSpec {
	var s []paramSpec
	for _, l := range c.layers() {
		w, b := l.params()
		s = append(s, w, b)
	}
	return s
}
