package nn

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fastvae/fastvae/internal/detmath"
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
	// Pairs are accepted in batches and only then transformed: the
	// transforms of a batch are independent chains the CPU overlaps, where
	// interleaved with the draws each waits behind its rejection test's
	// branch. The draws, and every value's arithmetic, are as one by one.
	const batch = 16
	var u, v, s [batch]float64
	for i := 0; i < len(dst); {
		k := 0
		for k < batch && i+2*k < len(dst) {
			uk := 2*r.Float64() - 1
			vk := 2*r.Float64() - 1
			sk := float64(uk*uk) + float64(vk*vk)
			if sk >= 1 || sk == 0 {
				continue
			}
			u[k], v[k], s[k] = uk, vk, sk
			k++
		}
		for j := range k {
			f := math.Sqrt(-2 * detmath.Log(s[j]) / s[j])
			dst[i] = float32(u[j] * f)
			i++
			if i < len(dst) {
				dst[i] = float32(v[j] * f)
				i++
			}
		}
	}
}

// Log returns the natural logarithm of a positive normal float64 to within
// 2 ULP, with the same bits on every architecture: it is detmath.Log.
func Log(x float64) float64 { return detmath.Log(x) }
