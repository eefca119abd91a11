package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEvalImportanceSampling: eval --iw-samples prints the mean NLL after
// the loss and writes every example's scores; the estimate is below the
// ELBO's bound, and the same bits for any thread count and division into
// calls.
func TestEvalImportanceSampling(t *testing.T) {
	_, out, ckpt := trainedTiny(t, "--epochs", "2")
	scores := filepath.Join(out, "scores.csv")
	ev := runIn(context.Background(), "eval", "--checkpoint", ckpt, "--iw-samples", "50", "--scores", scores, "--progress", "on")
	require.NoError(t, ev.err, ev.stderr)
	lines := strings.Split(ev.stdout, "\n")
	require.GreaterOrEqual(t, len(lines), 5)
	assert.Regexp(t, `^====> Test set loss: \d+\.\d{4}$`, lines[0])
	require.Regexp(t, `^====> Test set NLL \(K=50 importance samples\): \d+\.\d{4}$`, lines[1])
	assert.Regexp(t, `^reconstruction `, lines[2])
	assert.Regexp(t, `^importance sampling: ELBO -\d+\.\d{4} from the same samples \(seed 1\); 40×50 image·samples in \d+\.\d{3} s, \d+ per second on \d+ threads? \(\w+\)$`, lines[3])
	assert.Contains(t, ev.stderr, "NLL, K=50 [")
	loss, _ := strconv.ParseFloat(strings.TrimPrefix(lines[0], "====> Test set loss: "), 64)
	nll, _ := strconv.ParseFloat(strings.TrimPrefix(lines[1], "====> Test set NLL (K=50 importance samples): "), 64)

	// The scores: one row per example in data order, labels as the data's.
	recs := readCSV(t, scores)
	require.Len(t, recs, 41)
	assert.Equal(t, []string{"index", "label", "elbo", "nll"}, recs[0])
	var sumNLL, sumELBO float64
	for i, rec := range recs[1:] {
		assert.Equal(t, strconv.Itoa(i), rec[0])
		_, err := strconv.Atoi(rec[1])
		assert.NoError(t, err, "a label")
		elbo, err := strconv.ParseFloat(rec[2], 64)
		require.NoError(t, err)
		v, err := strconv.ParseFloat(rec[3], 64)
		require.NoError(t, err)
		sumNLL, sumELBO = sumNLL+v, sumELBO+elbo
	}
	assert.InDelta(t, nll, sumNLL/40, 5e-5, "the printed NLL is the scores' mean")
	// With 50 samples the estimate is well below the ELBO's bound (the
	// single-sample loss and the exact-KL ELBO of the same samples alike).
	assert.Less(t, nll, -sumELBO/40)
	assert.Less(t, nll, loss)

	// The same bits on any number of threads and however the examples are
	// divided into calls; another seed draws other samples.
	ref := readFile(t, scores)
	for _, c := range []struct {
		threads string
		perCall int
	}{{"1", 1 << 16}, {"2", 1 << 16}, {"2", 50}, {"1", 150}} {
		iwSamplesPerCall = c.perCall
		p := filepath.Join(out, fmt.Sprintf("scores-%s-%d.csv", c.threads, c.perCall))
		r := runIn(context.Background(), "eval", "--checkpoint", ckpt, "--iw-samples", "50", "--scores", p, "--threads", c.threads)
		iwSamplesPerCall = 1 << 16
		require.NoError(t, r.err, r.stderr)
		assert.Equal(t, ref, readFile(t, p), "--threads %s, %d samples a call", c.threads, c.perCall)
		assert.Equal(t, lines[1], strings.Split(r.stdout, "\n")[1])
	}
	other := runIn(context.Background(), "eval", "--checkpoint", ckpt, "--iw-samples", "50", "--seed", "7")
	require.NoError(t, other.err, other.stderr)
	assert.NotEqual(t, lines[1], strings.Split(other.stdout, "\n")[1])
	assert.Contains(t, other.stdout, "(seed 7)")
}
