package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/kernels"
	"github.com/fastvae/fastvae/vae"
)

func setupEval(fs *flag.FlagSet) action {
	f := &setFlags{}
	f.register(fs)
	k := fs.Int("iw-samples", 0, "estimate −log p(x) of each example by importance sampling with `K` samples from q(z|x) (Burda et al.; 0: no)")
	scores := fs.String("scores", "", "CSV `file` of each example's index, label, ELBO and NLL (needs --iw-samples)")
	seed := fs.Uint64("seed", 0, "random seed of the importance samples (default: the checkpoint's training seed)")
	prog := fs.String("progress", "auto", "progress bar of the importance sampling on stderr: auto (when a terminal), on or off")
	return func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
		if err := atLeast("iw-samples", *k, 0); err != nil {
			return err
		}
		if *scores != "" && *k == 0 {
			return usagef("--scores needs --iw-samples K: the file holds each example's importance-sampled NLL")
		}
		if err := checkMode("progress", *prog, "auto", "on", "off"); err != nil {
			return err
		}
		t, s, restore, err := f.open(fs, stderr)
		if err != nil {
			return err
		}
		defer restore()
		m := t.m
		m.Reserve(evalChunk)
		loss, recon, kl := evalSet(m, s, make([]float32, evalChunk*s.Dim()), evalChunk).PerExample()
		name := map[string]string{"test": "Test", "train": "Train", "valid": "Validation"}[f.split]
		fmt.Fprintf(stdout, "====> %s set loss: %.4f\n", name, loss)
		var iw *iwResult
		if *k > 0 {
			if !explicit(fs)["seed"] {
				*seed = t.st.Seed
			}
			if iw, err = likelihoods(ctx, m, s, *k, *seed, newProgress(*prog, stdout, stderr)); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "====> %s set NLL (K=%d importance samples): %.4f\n", name, *k, iw.mean.NLL)
		}
		fmt.Fprintf(stdout, "reconstruction %.4f, KL %.4f nats per %s; %d %s of %s; model %s\n",
			recon, kl, strings.TrimSuffix(noun(s), "s"), s.Len(), noun(s), s.Source, m.Config())
		if iw == nil {
			return nil
		}
		fmt.Fprintf(stdout, "importance sampling: ELBO %.4f from the same samples (seed %d); %d×%d image·samples in %.3f s, %.0f per second on %s (%s)\n",
			iw.mean.ELBO, *seed, s.Len(), *k, iw.time.Seconds(), iw.rate(), count(kernels.Threads(), "thread"), kernels.Impl())
		if *scores == "" {
			return nil
		}
		if err := writeAtomic(*scores, func(w io.Writer) error { return writeScores(w, iw.scores, s.Labels) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "fastvae: wrote the scores of %d %s to %s\n", s.Len(), noun(s), *scores)
		return nil
	}
}

// iwResult is an importance-sampled estimate over a data set.
type iwResult struct {
	scores []vae.Score
	mean   vae.Score
	k      int
	time   time.Duration
}

// rate is the speed of the estimate in image·samples per second.
func (r *iwResult) rate() float64 {
	return float64(len(r.scores)) * float64(r.k) / r.time.Seconds()
}

// likelihoods scores every example of s with k importance samples, drawing
// a progress bar, and returns the scores and their mean (float64 sums in
// data order).
func likelihoods(ctx context.Context, m *vae.Model, s *dataset.Set, k int, seed uint64, prog *progress) (*iwResult, error) {
	r := &iwResult{scores: make([]vae.Score, s.Len()), k: k}
	start := time.Now()
	prog.begin(fmt.Sprintf("NLL, K=%d", k), "NLL", 0, s.Len())
	var sum vae.Score
	next := 0
	err := scoreSet(ctx, m, s, r.scores, k, seed, 0, func(hi int) {
		for _, sc := range r.scores[next:hi] {
			sum.NLL += sc.NLL
			sum.ELBO += sc.ELBO
		}
		next = hi
		prog.update(hi, sum.NLL/float64(hi))
	})
	prog.clear()
	if err != nil {
		return nil, err
	}
	r.time = time.Since(start)
	n := float64(s.Len())
	r.mean = vae.Score{NLL: sum.NLL / n, ELBO: sum.ELBO / n}
	return r, nil
}

// writeScores writes the scores CSV: index, label (empty without labels),
// ELBO and NLL of each example, in data order.
func writeScores(w io.Writer, scores []vae.Score, labels []int) error {
	if _, err := io.WriteString(w, "index,label,elbo,nll\n"); err != nil {
		return err
	}
	var buf []byte
	for i, s := range scores {
		buf = strconv.AppendInt(buf[:0], int64(i), 10)
		buf = append(buf, ',')
		if labels != nil {
			buf = strconv.AppendInt(buf, int64(labels[i]), 10)
		}
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, s.ELBO, 'g', -1, 64)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, s.NLL, 'g', -1, 64)
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}
