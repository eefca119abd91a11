package nn

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// Stream names one of the random streams derived from a run's seed. Each
// (seed, stream) pair keys its own ChaCha8 generator, so the streams are
// independent: drawing more or fewer numbers from one never shifts another
// (evaluating on the test set does not change the training noise, a new
// shuffle does not change the initial weights).
type Stream uint64

// The streams fastvae uses. Values are part of the checkpoint format's
// meaning (they key the generators): never renumber them.
const (
	StreamInit    Stream = 1 // initial parameters
	StreamShuffle Stream = 2 // order of the training examples (the trainer's)
	StreamEps     Stream = 3 // ε of the reparameterisation in training steps
	StreamEval    Stream = 4 // ε in evaluation, z in sampling
	StreamData    Stream = 5 // data augmentation such as dynamic binarisation
	// StreamIW draws the z of importance-sampled likelihood estimates from
	// a generator per example and group of samples (see Key), so that an
	// example's estimate depends neither on which other examples are
	// evaluated with it nor on how many threads draw its samples.
	StreamIW Stream = 6
)

// NewSource returns the generator of stream s for seed: a ChaCha8 keyed by
// Key(seed, s, 0, 0). Save and restore its position with MarshalBinary and
// UnmarshalBinary.
func NewSource(seed uint64, s Stream) *rand.ChaCha8 {
	return rand.NewChaCha8(Key(seed, s, 0, 0))
}

// Key returns the ChaCha8 key of generator (i, j) of stream s for seed:
// "fastvae", the seed, s + j·2³² and i, 8 bytes each, so generator (0, 0)
// is the stream's own (NewSource). Streams with a generator per item, and
// per part of an item (StreamIW: per example and group of samples), reseed
// one ChaCha8 with it. It panics unless s and j are below 2³².
func Key(seed uint64, s Stream, i, j uint64) [32]byte {
	if s >= 1<<32 || j >= 1<<32 {
		panic(fmt.Sprintf("nn: Key: stream %d or part %d not below 2^32", s, j))
	}
	var key [32]byte
	copy(key[:8], "fastvae\x00")
	binary.LittleEndian.PutUint64(key[8:], seed)
	binary.LittleEndian.PutUint64(key[16:], uint64(s)|j<<32)
	binary.LittleEndian.PutUint64(key[24:], i)
	return key
}

// InitUniform fills p.Value with independent draws from the uniform
// distribution on [−1/√FanIn, 1/√FanIn), the distribution PyTorch's
// nn.Linear gives its weight (kaiming_uniform_ with a=√5) and bias by
// default. The bits depend only on r's state, on every architecture.
func InitUniform(p *Param, r *rand.Rand) {
	bound := 1 / math.Sqrt(float64(p.FanIn))
	for i := range p.Value {
		u := 2*r.Float64() - 1 // exact: fusing it into an FMA changes nothing
		p.Value[i] = float32(u * bound)
	}
}

// Normal fills dst with independent standard normal samples from r, by
// Marsaglia's polar method. It uses only correctly rounded IEEE operations
// and a logarithm written here (math.Log is assembly on some architectures
// and need not agree with the portable one), so the same state gives the
// same bits everywhere. The method yields pairs; when len(dst) is odd the
// last pair's second value is dropped, so r's state afterwards depends only
// on its state before and len(dst).
func Normal(dst []float32, r *rand.Rand) {
	for i := 0; i < len(dst); {
		u := 2*r.Float64() - 1
		v := 2*r.Float64() - 1
		s := float64(u*u) + float64(v*v)
		if s >= 1 || s == 0 {
			continue
		}
		f := math.Sqrt(-2 * Log(s) / s)
		dst[i] = float32(u * f)
		i++
		if i < len(dst) {
			dst[i] = float32(v * f)
			i++
		}
	}
}

// Split of ln 2: ln2Hi has its low bits zero, so e·ln2Hi is exact for any
// float64 exponent e.
const (
	ln2Hi = 6.93147180369123816490e-01
	ln2Lo = 1.90821492927058770002e-10
)

// lnTerms holds 1/(2k+1), the coefficients of atanh's series, computed by
// correctly rounded division so they are the same everywhere.
var lnTerms = func() (c [12]float64) {
	for k := range c {
		c[k] = 1 / float64(2*k+1)
	}
	return c
}()

// Log returns the natural logarithm of a positive normal float64 to within
// 2 ULP, with the same bits on every architecture (math.Log is assembly on
// some): x = 2^e·m with m in [√½, √2), ln m = 2·atanh(s) with
// s = (m−1)/(m+1), |s| ≤ 0.1716, summed to 12 terms of its series, every
// product rounded before the following sum so that no FMA alters the bits.
// Zero, subnormal, negative, infinite and NaN arguments give meaningless
// results.
func Log(x float64) float64 {
	bits := math.Float64bits(x)
	e := int(bits>>52&0x7ff) - 1023
	m := math.Float64frombits(bits&^(0x7ff<<52) | 1023<<52) // [1, 2)
	if m > math.Sqrt2 {
		m /= 2 // exact
		e++
	}
	s := (m - 1) / (m + 1) // m−1 is exact here
	s2 := float64(s * s)
	p := lnTerms[len(lnTerms)-1]
	for k := len(lnTerms) - 2; k >= 0; k-- {
		p = float64(p*s2) + lnTerms[k]
	}
	fe := float64(e)
	return float64(fe*ln2Hi) + (float64(fe*ln2Lo) + float64(2*s*p))
}
