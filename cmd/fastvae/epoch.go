package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/internal/cputime"
	"github.com/fastvae/fastvae/kernels"
	"github.com/fastvae/fastvae/vae"
)

// trained reports whether training is over: every epoch done, or stopped
// early.
func (t *trainer) trained() bool { return t.st.Epoch >= t.st.Epochs || t.stoppedEarly() }

// stoppedEarly reports whether --patience epochs have gone by without an
// improvement of the validation loss.
func (t *trainer) stoppedEarly() bool {
	return t.st.Patience > 0 && t.st.SinceBest >= t.st.Patience
}

// nllPending reports whether the final test NLL (--final-nll) of the
// trained model is still to be estimated.
func (t *trainer) nllPending() bool {
	p := t.st.NLL
	return t.st.FinalNLL > 0 && (p == nil || p.Epoch != t.st.Epoch || p.K != t.st.FinalNLL || !p.Finished)
}

// run trains until the last epoch (or an early stop), a signal or a
// non-finite loss, then estimates the final test NLL if asked to.
func (t *trainer) run(ctx context.Context) error {
	steps := 0
	for !t.trained() {
		if err := t.epoch(ctx, &steps); err != nil {
			return err
		}
	}
	return t.finalNLL(ctx)
}

// klWeight returns the KL weight of training step k (from 1) of the run:
// during the warm-up β·k/W for W steps in its epochs, then β.
func (t *trainer) klWeight(k, perEpoch int) float64 {
	w := t.st.KLWarmup * perEpoch
	return t.cfg.Beta * min(1, float64(k)/float64(w))
}

// epoch trains the rest of epoch Epoch+1, evaluates, draws the pictures,
// writes the metrics and the checkpoint. steps counts the steps this run
// has taken.
func (t *trainer) epoch(ctx context.Context, steps *int) error {
	st, m, D := &t.st, t.m, t.cfg.Input
	n, bs := t.train.Len(), st.BatchSize
	nb := (n + bs - 1) / bs
	e := st.Epoch + 1
	if err := t.shuffle.UnmarshalBinary(st.Shuffle); err != nil {
		return err
	}
	perm := rand.New(t.shuffle).Perm(n)
	lr := st.schedule().LR(st.Epoch)
	m.Optimizer().LR = float32(lr)
	t.prog.begin(fmt.Sprintf("epoch %d/%d", e, st.Epochs), "loss", min(st.Batch*bs, n), n)
	start, startCPU, startBatch := time.Now(), cputime.Process(), st.Batch
	for b := st.Batch; b < nb; b++ {
		lo, hi := b*bs, min((b+1)*bs, n)
		rows := hi - lo
		xb := t.x[:rows*D]
		t.train.Gather(xb, perm[lo:hi])
		if t.dataRNG != nil {
			dataset.Binarize(xb, xb, t.dataRNG)
		}
		var labels []int
		if t.labels != nil {
			labels = t.labels[:rows]
			for i, j := range perm[lo:hi] {
				labels[i] = t.train.Labels[j]
			}
		}
		if st.KLWarmup > 0 {
			m.SetBeta(t.klWeight(st.Epoch*nb+b+1, nb))
		}
		s := trainRows(m, xb, labels)
		if math.IsNaN(s.Loss) || math.IsInf(s.Loss, 0) {
			return t.nonFinite(fmt.Sprintf("epoch %d, batch %d of %d (step %d)", e, b+1, nb, m.Optimizer().Steps), "training", s.Loss)
		}
		st.Partial.Add(s)
		st.Batch = b + 1
		*steps++
		if b%st.LogInterval == 0 {
			t.prog.logf("Train Epoch: %d [%d/%d (%.0f%%)]\tLoss: %.6f", e, b*rows, n, 100*float64(b)/float64(nb), s.Loss/float64(rows))
		}
		t.prog.update(hi, s.Loss/float64(rows))
		if afterStep != nil {
			afterStep(*steps, m)
		}
		if b+1 < nb && ctx.Err() != nil {
			return t.stop(ctx, fmt.Sprintf("in epoch %d after batch %d of %d", e, b+1, nb))
		}
	}
	trainTime, trainCPU := time.Since(start), cputime.Process()-startCPU
	t.prog.clear()
	images := min(nb*bs, n) - min(startBatch*bs, n)
	t.prog.logf("====> Epoch: %d Average loss: %.4f", e, st.Partial.Loss/float64(st.Partial.N))
	t.prog.logf("====> Time: %.3f s, %.0f images/s", trainTime.Seconds(), float64(images)/trainTime.Seconds())
	if st.KLWarmup > 0 {
		t.prog.logf("====> KL weight: %.4f", m.Beta())
	}

	testStart := time.Now()
	ts := evalSet(m, t.test, t.x, bs)
	testTime := time.Since(testStart)
	testLoss, testRecon, testKL := ts.PerExample()
	if math.IsNaN(testLoss) || math.IsInf(testLoss, 0) {
		return t.nonFinite(fmt.Sprintf("epoch %d", e), "test", testLoss)
	}
	t.prog.logf("====> Test set loss: %.4f", testLoss)

	trainLoss, trainRecon, trainKL := st.Partial.PerExample()
	rec := map[string]any{
		"epoch": e, "steps": m.Optimizer().Steps, "lr": lr, "kl_weight": m.Beta(),
		"train_loss": trainLoss, "train_recon": trainRecon, "train_kl": trainKL,
		"test_loss": testLoss, "test_recon": testRecon, "test_kl": testKL,
		"train_seconds": trainTime.Seconds(), "train_images": images, "images_per_second": float64(images) / trainTime.Seconds(),
		"train_cpu_seconds": trainCPU.Seconds(), "test_seconds": testTime.Seconds(), "threads": kernels.Threads(), "kernels": kernels.Impl(),
		"model": t.cfg.String(), "batch_size": bs, "seed": st.Seed, "time": time.Now().UTC().Format(time.RFC3339),
	}
	improved := false
	if t.valid != nil {
		var err error
		if improved, err = t.validate(e, rec); err != nil {
			return err
		}
	}
	st.History = append(st.History, epochRecord{Epoch: e, TrainLoss: trainLoss, TestLoss: testLoss})
	if err := t.pictures(e); err != nil {
		return err
	}
	if err := t.appendMetrics(rec); err != nil {
		return err
	}
	st.Epoch, st.Batch, st.Partial = e, 0, vae.Stats{}
	st.Shuffle, _ = t.shuffle.MarshalBinary()
	// The best model first: should the process die between the two
	// writes, the checkpoint still says this epoch is to be done, and
	// doing it again writes the same best model.
	if improved && st.KeepBest {
		if err := t.saveTo(filepath.Join(st.Out, "best.safetensors")); err != nil {
			return err
		}
	}
	if err := t.save(); err != nil {
		return err
	}
	if t.stoppedEarly() {
		t.prog.logf("fastvae: stopping early after epoch %d: the validation loss has not improved for %s (best %.4f, after epoch %d)",
			e, count(st.SinceBest, "epoch"), st.BestLoss, st.BestEpoch)
		return nil
	}
	if !t.trained() && ctx.Err() != nil {
		return t.stop(ctx, fmt.Sprintf("at the end of epoch %d", e))
	}
	return nil
}

// validate evaluates the validation set after epoch e, logs and records
// its loss, and keeps the best. The loss compared is Recon + β·KL with the
// configured β, the same objective in every epoch: during a KL warm-up the
// weight in effect, and so the training loss, changes from step to step.
func (t *trainer) validate(e int, rec map[string]any) (improved bool, err error) {
	st := &t.st
	vs := evalSet(t.m, t.valid, t.x, st.BatchSize)
	_, recon, kl := vs.PerExample()
	loss := recon + t.cfg.Beta*kl
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return false, t.nonFinite(fmt.Sprintf("epoch %d", e), "validation", loss)
	}
	t.prog.logf("====> Validation loss: %.4f", loss)
	if st.BestEpoch == 0 || loss < st.BestLoss {
		st.BestLoss, st.BestEpoch, st.SinceBest = loss, e, 0
		improved = true
	} else {
		st.SinceBest++
	}
	rec["valid_loss"], rec["valid_recon"], rec["valid_kl"] = loss, recon, kl
	rec["best_valid_loss"], rec["best_epoch"] = st.BestLoss, st.BestEpoch
	return improved, nil
}

// finalNLL estimates the test set's NLL with --final-nll importance
// samples once training is over, continuing an interrupted estimate, and
// records it in the log, the metrics and the checkpoint.
func (t *trainer) finalNLL(ctx context.Context) error {
	if !t.nllPending() {
		return nil
	}
	st := &t.st
	p := st.NLL
	if p == nil || p.Epoch != st.Epoch || p.K != st.FinalNLL {
		p = &nllState{Epoch: st.Epoch, K: st.FinalNLL}
		st.NLL = p
	}
	n := t.test.Len()
	scores := make([]vae.Score, n)
	start, from := time.Now(), p.Done
	t.prog.begin(fmt.Sprintf("test NLL, K=%d", p.K), "NLL", p.Done, n)
	err := scoreSet(ctx, t.m, t.test, scores, p.K, st.Seed, p.Done, func(hi int) {
		for _, s := range scores[p.Done:hi] {
			p.NLL += s.NLL
			p.ELBO += s.ELBO
		}
		p.Done = hi
		t.prog.update(hi, p.NLL/float64(hi))
	})
	if err != nil {
		return t.stop(ctx, fmt.Sprintf("while estimating the test NLL (%d of %d %s done)", p.Done, n, noun(t.test)))
	}
	t.prog.clear()
	took := time.Since(start)
	nll := p.NLL / float64(n)
	t.prog.logf("====> Test set NLL (K=%d importance samples): %.4f", p.K, nll)
	if err := t.appendMetrics(map[string]any{
		"epoch": st.Epoch, "test_nll": nll, "test_iw_elbo": p.ELBO / float64(n), "iw_samples": p.K,
		"iw_seconds": took.Seconds(), "iw_image_samples_per_second": float64(n-from) * float64(p.K) / took.Seconds(),
		"threads": kernels.Threads(), "kernels": kernels.Impl(), "time": time.Now().UTC().Format(time.RFC3339),
	}); err != nil {
		return err
	}
	p.Finished = true
	return t.save()
}

// save writes the checkpoint (atomically: see vae.Model.Save).
func (t *trainer) save() error {
	if err := t.saveTo(t.ckpt); err != nil {
		return err
	}
	t.saved = true
	return nil
}

// saveTo writes the model and the training state to path, atomically.
func (t *trainer) saveTo(path string) error {
	if t.dataRNG != nil {
		t.st.DataRNG, _ = t.dataRNG.MarshalBinary()
	}
	meta, err := json.Marshal(&t.st)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return t.m.Save(path, map[string]string{metaKey: string(meta)})
}

// stop saves a checkpoint after a signal and returns the error that tells
// the user how to continue.
func (t *trainer) stop(ctx context.Context, where string) error {
	t.prog.clear()
	cause := context.Cause(ctx)
	if err := t.save(); err != nil {
		return errors.Join(cause, err)
	}
	return stopped{cause, fmt.Sprintf("%v %s; checkpoint written to %s; continue with: fastvae train --resume %s", cause, where, t.ckpt, t.ckpt)}
}

// nonFinite is the error for a NaN or infinite loss: nothing is saved, so
// the checkpoint on disk stays the last good one.
func (t *trainer) nonFinite(where, kind string, loss float64) error {
	t.prog.clear()
	last := "no checkpoint was written"
	switch {
	case t.saved:
		last = fmt.Sprintf("the last good checkpoint is %s", t.ckpt)
	case t.f.resume != "":
		last = fmt.Sprintf("the last good checkpoint is %s", t.f.resume)
	}
	return fmt.Errorf("%s: the %s loss is %v; stopped without saving (%s); a lower --lr may help", where, kind, loss, last)
}
