package main

import (
	"context"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/vae"
)

// iwSamplesPerCall is about how many importance samples (examples × K)
// one call of LogLikelihood scores: a fraction of a second of work, so that
// the progress bar moves and a signal is heeded soon, and enough for the
// decoder's products to run at full speed. A variable so that tests can
// make the calls smaller.
var iwSamplesPerCall = 1 << 16

// afterScores, when set (by tests), is called after each call of
// LogLikelihood with the number of examples scored so far.
var afterScores func(done int)

// scoreSet estimates −log p(x) of examples [from, Len) of s with k
// importance samples each (vae.Model.LogLikelihood, draws from seed), into
// scores[from:] (scores has Len entries). After each call it calls
// done(hi), examples [from, hi) being scored. When ctx is done it stops
// between calls and returns ctx's cause. An example's score depends on its
// index, not on from or on how the examples are divided into calls.
func scoreSet(ctx context.Context, m *vae.Model, s *dataset.Set, scores []vae.Score, k int, seed uint64, from int, done func(hi int)) error {
	chunk := min(1024, max(1, iwSamplesPerCall/k))
	buf := make([]float32, chunk*s.Dim())
	return eachChunk(s, buf, chunk, from, func(x []float32, lo, hi int) error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		m.LogLikelihood(scores[lo:hi], x, labelsOf(m, s, lo, hi), vae.IWOptions{K: k, Seed: seed, First: lo})
		done(hi)
		if afterScores != nil {
			afterScores(hi)
		}
		return nil
	})
}
