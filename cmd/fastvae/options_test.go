package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fastvae/fastvae/nn"
	"github.com/fastvae/fastvae/vae"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// volatile are the metrics that differ between two runs of the same
// training: timings, the images a run trained of an epoch (fewer when it
// resumed in the middle) and the time of day.
var volatile = []string{"train_seconds", "train_images", "images_per_second", "train_cpu_seconds", "test_seconds", "time", "iw_seconds", "iw_image_samples_per_second"}

// stableMetrics reads metrics.jsonl without the volatile fields.
func stableMetrics(t *testing.T, path string) []map[string]any {
	recs := readMetrics(t, path)
	for _, r := range recs {
		for _, k := range volatile {
			delete(r, k)
		}
	}
	return recs
}

// column returns the values of a metric, one per record that has it.
func column(recs []map[string]any, key string) []float64 {
	var v []float64
	for _, r := range recs {
		if x, ok := r[key].(float64); ok {
			v = append(v, x)
		}
	}
	return v
}

func TestKLWarmup(t *testing.T) {
	data, out := makeData(t, tiny), t.TempDir()
	// 10 steps an epoch: the weight after epoch 1 is that of step 10 of
	// the 20 of the warm-up.
	r := runIn(context.Background(), tinyTrain(data, out, "--kl-warmup", "2", "--beta", "2")...)
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "lr 0.001, KL warm-up 2 epochs, seed 1;")
	assert.Equal(t, []string{"====> KL weight: 1.0000", "====> KL weight: 2.0000", "====> KL weight: 2.0000"},
		regexp.MustCompile(`====> KL weight: .*`).FindAllString(r.stdout, -1))
	recs := readMetrics(t, filepath.Join(out, "metrics.jsonl"))
	assert.Equal(t, []float64{1, 2, 2}, column(recs, "kl_weight"))
	m, st := loadTrained(t, filepath.Join(out, "checkpoint.safetensors"))
	assert.Equal(t, 2, st.KLWarmup)
	assert.Equal(t, 2.0, m.Config().Beta, "the configured weight stays the target")

	// Without the warm-up the weight is --beta throughout and the log is
	// as before.
	r = runIn(context.Background(), tinyTrain(data, t.TempDir(), "--epochs", "1")...)
	require.NoError(t, r.err, r.stderr)
	assert.NotContains(t, r.stdout, "KL weight")
}

func TestLRSchedule(t *testing.T) {
	data := makeData(t, tiny)
	for _, c := range []struct {
		args []string
		desc string
		s    nn.LRSchedule
	}{
		{[]string{"--lr-schedule", "step", "--lr-step", "2", "--lr-gamma", "0.5"}, "lr 0.001 (×0.5 every 2 epochs)", nn.LRSchedule{Kind: nn.StepLR, Base: 1e-3, StepSize: 2, Gamma: 0.5}},
		{[]string{"--lr-schedule", "cosine", "--epochs", "4"}, "lr 0.001 (cosine to 0 over 4 epochs)", nn.LRSchedule{Kind: nn.CosineLR, Base: 1e-3, T: 4}},
		{[]string{"--lr-schedule", "constant"}, "lr 0.001, seed", nn.LRSchedule{Kind: nn.ConstantLR, Base: 1e-3}},
	} {
		t.Run(c.args[1], func(t *testing.T) {
			out := t.TempDir()
			r := runIn(context.Background(), tinyTrain(data, out, c.args...)...)
			require.NoError(t, r.err, r.stderr)
			assert.Contains(t, r.stdout, c.desc)
			lrs := column(readMetrics(t, filepath.Join(out, "metrics.jsonl")), "lr")
			require.NotEmpty(t, lrs)
			for e, lr := range lrs {
				assert.Equal(t, c.s.LR(e), lr, "epoch %d", e+1)
			}
			m, _ := loadTrained(t, filepath.Join(out, "checkpoint.safetensors"))
			assert.Equal(t, float32(lrs[len(lrs)-1]), m.Optimizer().LR, "the last epoch trained at its rate")
		})
	}
}

// poisonOutputs makes the model's reconstructions terrible (every logit
// +50) after step k, so that the validation loss stops improving.
func poisonOutputs(k int) func(step int, m *vae.Model) {
	return func(step int, m *vae.Model) {
		if step != k {
			return
		}
		ps := m.Params()
		for i := range ps[len(ps)-1].Value { // the output layer's bias
			ps[len(ps)-1].Value[i] += 50
		}
	}
}

func TestValidationKeepBestPatience(t *testing.T) {
	data, out := makeData(t, tiny), t.TempDir()
	// 240 training examples in batches of 32: 8 steps an epoch. The
	// outputs go bad in epoch 2; with patience 2 the run stops after
	// epoch 3, and the best model is that of epoch 1.
	afterStep = poisonOutputs(9)
	defer func() { afterStep = nil }()
	r := runIn(context.Background(), tinyTrain(data, out, "--epochs", "6", "--val-split", "0.2", "--keep-best", "--patience", "2")...)
	require.NoError(t, r.err, r.stderr)
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "240 training, 60 validation and 40 test images")
	assert.Len(t, regexp.MustCompile(`(?m)^====> Validation loss: \d+\.\d{4}$`).FindAllString(r.stdout, -1), 3)
	assert.Regexp(t, `(?m)^fastvae: stopping early after epoch 3: the validation loss has not improved for 2 epochs \(best \d+\.\d{4}, after epoch 1\)$`, r.stdout)
	assert.NotContains(t, r.stdout, "Epoch: 4")
	recs := readMetrics(t, filepath.Join(out, "metrics.jsonl"))
	require.Len(t, recs, 3)
	valid := column(recs, "valid_loss")
	assert.Greater(t, valid[1], valid[0])
	assert.Equal(t, []float64{1, 1, 1}, column(recs, "best_epoch"))

	_, best := loadTrained(t, filepath.Join(out, "best.safetensors"))
	assert.Equal(t, 1, best.Epoch, "best.safetensors holds the model after epoch 1")
	assert.Equal(t, valid[0], best.BestLoss)
	_, st := loadTrained(t, filepath.Join(out, "checkpoint.safetensors"))
	assert.Equal(t, 3, st.Epoch)
	assert.Equal(t, 2, st.SinceBest)

	// Stopped is stopped: the same command again has nothing to do.
	r = runIn(context.Background(), "train", "--resume", filepath.Join(out, "checkpoint.safetensors"), "--progress", "off")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "stopped early after epoch 3 (the validation loss had not improved for 2 epochs): nothing to do")

	// eval and encode find the validation set in the checkpoint.
	ev := runIn(context.Background(), "eval", "--checkpoint", filepath.Join(out, "best.safetensors"), "--split", "valid")
	require.NoError(t, ev.err, ev.stderr)
	assert.Contains(t, ev.stdout, "60 images of "+data)
	assert.True(t, strings.HasPrefix(ev.stdout, "====> Validation set loss: "), ev.stdout)
	enc := runIn(context.Background(), "encode", "--checkpoint", filepath.Join(out, "checkpoint.safetensors"), "--split", "train")
	require.NoError(t, enc.err, enc.stderr)
	assert.Equal(t, 241, strings.Count(enc.stdout, "\n"))
}

func TestConditional(t *testing.T) {
	data, out := makeData(t, tiny), t.TempDir()
	r := runIn(context.Background(), tinyTrain(data, out, "--conditional")...)
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "model 16-8-2 bernoulli beta=1 classes=10,")
	ckpt := filepath.Join(out, "checkpoint.safetensors")
	m, _ := loadTrained(t, ckpt)
	assert.Equal(t, 10, m.Config().Classes)
	// One row of samples per class; no manifold (it would take a label).
	img := readPNGFile(t, filepath.Join(out, "sample_3.png"))
	assert.Equal(t, 10*(4+2)+2, img.Bounds().Dy())
	assert.FileExists(t, filepath.Join(out, "latent_3.png"))
	assert.NoFileExists(t, filepath.Join(out, "manifold_3.png"))

	// Samples of one class, as CSV.
	p := filepath.Join(out, "three.csv")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--label", "3", "--n", "5", "--format", "csv", "--out", p)
	require.NoError(t, r.err, r.stderr)
	recs := readCSV(t, p)
	require.Len(t, recs, 5)
	require.Len(t, recs[0], 16)
	// --label all: a row of each class, --n of them; the seed's z.
	p = filepath.Join(out, "all.png")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--label", "all", "--n", "4", "--out", p)
	require.NoError(t, r.err, r.stderr)
	img = readPNGFile(t, p)
	assert.Equal(t, 10*(4+2)+2, img.Bounds().Dy())
	assert.Equal(t, 4*(4+2)+2, img.Bounds().Dx())
	assert.Contains(t, r.stdout, "wrote 40 samples")
	p = filepath.Join(out, "all.csv")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--format", "csv", "--out", p)
	require.NoError(t, r.err, r.stderr)
	assert.Len(t, readCSV(t, p), 80, "by default a grid row, --per-row, of each class")

	// The same z decoded with another label.
	p4 := filepath.Join(out, "four.csv")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--label", "4", "--n", "5", "--format", "csv", "--out", p4)
	require.NoError(t, r.err, r.stderr)
	assert.NotEqual(t, readCSV(t, filepath.Join(out, "three.csv")), readCSV(t, p4))

	// eval and encode use the data's labels.
	ev := runIn(context.Background(), "eval", "--checkpoint", ckpt, "--iw-samples", "8")
	require.NoError(t, ev.err, ev.stderr)
	assert.Contains(t, ev.stdout, "classes=10")
	enc := runIn(context.Background(), "encode", "--checkpoint", ckpt)
	require.NoError(t, enc.err, enc.stderr)
	assert.Equal(t, 41, strings.Count(enc.stdout, "\n"))

	// Resuming needs the same kind of model.
	r = runIn(context.Background(), "train", "--resume", ckpt, "--conditional=false", "--progress", "off")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--conditional false disagrees with checkpoint "+ckpt+", which was trained with --conditional true")
}

// TestClassNames: Fashion-MNIST's names reach a conditional checkpoint
// and name the classes for sample --label.
func TestClassNames(t *testing.T) {
	base := makeData(t, tiny)
	data := filepath.Join(t.TempDir(), "fashion-tiny")
	require.NoError(t, os.Rename(base, data))
	out := t.TempDir()
	r := runIn(context.Background(), tinyTrain(data, out, "--conditional", "--epochs", "1")...)
	require.NoError(t, r.err, r.stderr)
	ckpt := filepath.Join(out, "checkpoint.safetensors")
	m, _ := loadTrained(t, ckpt)
	require.Len(t, m.ClassNames(), 10)
	assert.Equal(t, "Trouser", m.ClassNames()[1])
	byName := filepath.Join(out, "trouser.csv")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--label", "Trouser", "--n", "3", "--format", "csv", "--out", byName)
	require.NoError(t, r.err, r.stderr)
	byNumber := filepath.Join(out, "one.csv")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--label", "1", "--n", "3", "--format", "csv", "--out", byNumber)
	require.NoError(t, r.err, r.stderr)
	assert.Equal(t, readFile(t, byNumber), readFile(t, byName))
}

// TestFinalNLL: --final-nll estimates what eval --iw-samples does, and an
// estimate interrupted part of the way continues to the same bits.
func TestFinalNLL(t *testing.T) {
	data := makeData(t, tiny)
	ref := t.TempDir()
	args := func(out string) []string { return tinyTrain(data, out, "--final-nll", "30") }
	r := runIn(context.Background(), args(ref)...)
	require.NoError(t, r.err, r.stderr)
	line := regexp.MustCompile(`(?m)^====> Test set NLL \(K=30 importance samples\): \d+\.\d{4}$`).FindString(r.stdout)
	require.NotEmpty(t, line, r.stdout)
	recs := readMetrics(t, filepath.Join(ref, "metrics.jsonl"))
	require.Len(t, recs, 4)
	last := recs[3]
	assert.EqualValues(t, 3, last["epoch"])
	assert.EqualValues(t, 30, last["iw_samples"])
	assert.Contains(t, last, "iw_image_samples_per_second")
	ckpt := filepath.Join(ref, "checkpoint.safetensors")
	ev := runIn(context.Background(), "eval", "--checkpoint", ckpt, "--iw-samples", "30")
	require.NoError(t, ev.err, ev.stderr)
	assert.Contains(t, ev.stdout, line+"\n", "eval with the training seed gives the same estimate")

	// Interrupted after 10 and 30 of the 40 test images.
	iwSamplesPerCall = 300 // 10 images a call
	defer func() { iwSamplesPerCall = 1 << 16 }()
	for _, at := range []int{10, 30} {
		out := t.TempDir()
		ctx, cancel := context.WithCancelCause(context.Background())
		afterScores = func(done int) {
			if done == at {
				cancel(interrupt{os.Interrupt})
			}
		}
		r := runIn(ctx, args(out)...)
		afterScores = nil
		require.Error(t, r.err)
		assert.Equal(t, 130, r.code)
		assert.Contains(t, r.stderr, fmt.Sprintf("interrupted by SIGINT while estimating the test NLL (%d of 40 images done); checkpoint written to ", at))
		_, st := loadTrained(t, filepath.Join(out, "checkpoint.safetensors"))
		require.NotNil(t, st.NLL)
		assert.Equal(t, at, st.NLL.Done)
		r = runIn(context.Background(), "train", "--resume", filepath.Join(out, "checkpoint.safetensors"), "--progress", "off")
		require.NoError(t, r.err, r.stderr)
		assert.Contains(t, r.stdout, line+"\n")
		requireSameState(t, ckpt, filepath.Join(out, "checkpoint.safetensors"))
		assert.Equal(t, stableMetrics(t, filepath.Join(ref, "metrics.jsonl")), stableMetrics(t, filepath.Join(out, "metrics.jsonl")))
	}
	// Done is done; more epochs estimate it again after the last.
	r = runIn(context.Background(), "train", "--resume", ckpt, "--progress", "off")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "nothing to do")
	r = runIn(context.Background(), "train", "--resume", ckpt, "--progress", "off", "--epochs", "4")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "====> Epoch: 4 ")
	assert.Contains(t, r.stdout, "====> Test set NLL (K=30 importance samples): ")
	recs = readMetrics(t, filepath.Join(ref, "metrics.jsonl"))
	assert.Equal(t, []float64{3, 4}, func() (e []float64) {
		for _, r := range recs {
			if _, ok := r["test_nll"]; ok {
				e = append(e, r["epoch"].(float64))
			}
		}
		return e
	}())
}

// TestResumeEveryOption interrupts runs with each option at several steps
// and requires the resumed run to end with the uninterrupted one's
// weights, optimizer, training state, best model and metrics.
func TestResumeEveryOption(t *testing.T) {
	data := makeData(t, tiny)
	type option struct {
		name string
		args []string
	}
	// With -short (as under emulation), all options at once.
	options := []option{
		{"all", []string{"--conditional", "--kl-warmup", "1", "--lr-schedule", "cosine", "--val-split", "0.1", "--keep-best", "--patience", "3", "--final-nll", "20"}},
	}
	stopsOf := [][]int{{9, 16}}
	if !testing.Short() {
		options = append(options,
			option{"kl-warmup", []string{"--kl-warmup", "2"}},
			option{"lr-step", []string{"--lr-schedule", "step", "--lr-step", "1", "--lr-gamma", "0.5"}},
			option{"lr-cosine", []string{"--lr-schedule", "cosine"}},
			option{"validation", []string{"--val-split", "0.2", "--keep-best", "--patience", "2"}},
			option{"conditional", []string{"--conditional", "--binarize"}},
		)
		stopsOf = append(stopsOf, []int{3}, []int{8}, []int{10}, []int{2, 11, 19})
	}
	for _, opt := range options {
		ref := t.TempDir()
		r := runIn(context.Background(), tinyTrain(data, ref, opt.args...)...)
		require.NoError(t, r.err, r.stderr)
		for _, stops := range stopsOf {
			stops := slices.Clone(stops)
			t.Run(fmt.Sprintf("%s/stops=%v", opt.name, stops), func(t *testing.T) {
				out := t.TempDir()
				ckpt := filepath.Join(out, "checkpoint.safetensors")
				args := tinyTrain(data, out, opt.args...)
				for i, k := range stops {
					r := interruptAfter(t, k, args)
					require.Error(t, r.err, "interrupted after step %d", k)
					assert.Equal(t, 130, r.code)
					args = []string{"train", "--resume", ckpt, "--progress", "off"}
					if i+1 < len(stops) {
						stops[i+1] -= k
					}
				}
				r := runIn(context.Background(), args...)
				require.NoError(t, r.err, r.stderr)
				requireSameState(t, filepath.Join(ref, "checkpoint.safetensors"), ckpt)
				if _, err := os.Stat(filepath.Join(ref, "best.safetensors")); err == nil {
					requireSameState(t, filepath.Join(ref, "best.safetensors"), filepath.Join(out, "best.safetensors"))
				}
				assert.Equal(t, stableMetrics(t, filepath.Join(ref, "metrics.jsonl")), stableMetrics(t, filepath.Join(out, "metrics.jsonl")))
			})
		}
	}
}

// TestMetricsFollowTheCheckpoint: records written after the last
// checkpoint by a run that was killed (and a line it cut short) are
// dropped when it resumes, so every epoch has one record; a fresh run
// starts the file afresh.
func TestMetricsFollowTheCheckpoint(t *testing.T) {
	data, out := makeData(t, tiny), t.TempDir()
	ref := t.TempDir()
	r := runIn(context.Background(), tinyTrain(data, ref)...)
	require.NoError(t, r.err, r.stderr)

	r = interruptAfter(t, 12, tinyTrain(data, out))
	require.Error(t, r.err)
	metrics := filepath.Join(out, "metrics.jsonl")
	f, err := os.OpenFile(metrics, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	fmt.Fprint(f, `{"epoch":2,"test_loss":1}`+"\n"+`{"epoch":3,"train_lo`)
	require.NoError(t, f.Close())
	r = runIn(context.Background(), "train", "--resume", filepath.Join(out, "checkpoint.safetensors"), "--progress", "off")
	require.NoError(t, r.err, r.stderr)
	assert.Equal(t, stableMetrics(t, filepath.Join(ref, "metrics.jsonl")), stableMetrics(t, metrics))

	r = runIn(context.Background(), tinyTrain(data, out, "--epochs", "1")...)
	require.NoError(t, r.err, r.stderr)
	assert.Len(t, readMetrics(t, metrics), 1, "a fresh run's metrics only")
}

// TestResumeAuto: --resume auto starts afresh without a checkpoint and
// continues from it otherwise, so that the same command line, run again
// after every interruption, ends as one uninterrupted run.
func TestResumeAuto(t *testing.T) {
	data := makeData(t, tiny)
	ref := t.TempDir()
	r := runIn(context.Background(), tinyTrain(data, ref, "--val-split", "0.1", "--keep-best")...)
	require.NoError(t, r.err, r.stderr)

	out := t.TempDir()
	args := tinyTrain(data, out, "--val-split", "0.1", "--keep-best", "--resume", "auto")
	r = interruptAfter(t, 4, args)
	require.Error(t, r.err)
	assert.True(t, strings.HasPrefix(r.stdout, "fastvae: no checkpoint "+filepath.Join(out, "checkpoint.safetensors")+" yet: starting afresh\n"), r.stdout)
	r = interruptAfter(t, 10, args)
	require.Error(t, r.err)
	assert.Contains(t, r.stdout, "fastvae: resuming from "+filepath.Join(out, "checkpoint.safetensors")+" after epoch 0, batch 4\n")
	r = runIn(context.Background(), args...)
	require.NoError(t, r.err, r.stderr)
	requireSameState(t, filepath.Join(ref, "checkpoint.safetensors"), filepath.Join(out, "checkpoint.safetensors"))
	requireSameState(t, filepath.Join(ref, "best.safetensors"), filepath.Join(out, "best.safetensors"))
	r = runIn(context.Background(), args...)
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "nothing to do")

	// A checkpoint elsewhere (--checkpoint) is found there.
	ck := filepath.Join(t.TempDir(), "run.safetensors")
	args = tinyTrain(data, t.TempDir(), "--val-split", "0.1", "--keep-best", "--resume", "auto", "--checkpoint", ck)
	r = interruptAfter(t, 15, args)
	require.Error(t, r.err)
	r = runIn(context.Background(), args...)
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "fastvae: resuming from "+ck)
	requireSameState(t, filepath.Join(ref, "checkpoint.safetensors"), ck)
}

// TestCheckpointWithoutNewState: a checkpoint written before the trainer
// kept the learning rate, schedule and validation state (none of those
// keys) resumes as a constant-rate run.
func TestCheckpointWithoutNewState(t *testing.T) {
	_, out, ckpt := trainedTiny(t, "--epochs", "1", "--lr", "0.002")
	m, st := loadTrained(t, ckpt)
	st.LR = 0
	rewriteState(t, m, st, ckpt)
	r := runIn(context.Background(), "train", "--resume", ckpt, "--epochs", "2", "--progress", "off", "--lr", "0.002")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, ", lr 0.002, seed 1;")
	recs := readMetrics(t, filepath.Join(out, "metrics.jsonl"))
	assert.InDelta(t, 0.002, recs[len(recs)-1]["lr"], 1e-9)
	assert.False(t, math.IsNaN(recs[len(recs)-1]["lr"].(float64)))
}

// rewriteState saves m with st as its training state.
func rewriteState(t *testing.T, m *vae.Model, st trainState, path string) {
	meta, err := json.Marshal(&st)
	require.NoError(t, err)
	require.NoError(t, m.Save(path, map[string]string{metaKey: string(meta)}))
}
