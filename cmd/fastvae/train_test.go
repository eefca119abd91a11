package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fastvae/fastvae/vae"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTrainLogAndOutputs(t *testing.T) {
	data, out := makeData(t, tiny), t.TempDir()
	r := runIn(context.Background(), tinyTrain(data, out)...)
	require.NoError(t, r.err, r.stderr)
	assert.Empty(t, r.stderr)

	// 300 images in batches of 32: 10 batches, logged at 0, 4 and 8.
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	assert.Regexp(t, `^fastvae: kernels \w+, \d+ threads; model 16-8-2 bernoulli beta=1, batch 32, lr 0.001, seed 1; 300 training and 40 test images of 4×4 from `, lines[0])
	want := []string{
		`Train Epoch: 1 \[0/300 \(0%\)\]\tLoss: \d+\.\d{6}`,
		`Train Epoch: 1 \[128/300 \(40%\)\]\tLoss: \d+\.\d{6}`,
		`Train Epoch: 1 \[256/300 \(80%\)\]\tLoss: \d+\.\d{6}`,
		`====> Epoch: 1 Average loss: \d+\.\d{4}`,
		`====> Time: \d+\.\d{3} s, \d+ images/s`,
		`====> Test set loss: \d+\.\d{4}`,
	}
	require.GreaterOrEqual(t, len(lines), 1+3*len(want))
	for e := range 3 {
		for i, w := range want {
			w = strings.Replace(w, "Epoch: 1", fmt.Sprintf("Epoch: %d", e+1), 1)
			assert.Regexp(t, "^"+w+"$", lines[1+e*len(want)+i])
		}
	}

	for _, f := range []string{"checkpoint.safetensors", "loss.png", "metrics.jsonl",
		"reconstruction_1.png", "sample_1.png", "manifold_1.png", "latent_1.png", "reconstruction_3.png", "latent_3.png"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
	recs := readMetrics(t, filepath.Join(out, "metrics.jsonl"))
	require.Len(t, recs, 3)
	for i, rec := range recs {
		assert.EqualValues(t, i+1, rec["epoch"])
		assert.EqualValues(t, 10*(i+1), rec["steps"])
		for _, k := range []string{"train_loss", "test_loss", "train_seconds", "images_per_second", "kernels", "threads"} {
			assert.Contains(t, rec, k)
		}
	}
	// The loss went down on this easy data.
	assert.Less(t, recs[2]["train_loss"], recs[0]["train_loss"])

	// The checkpoint says where training stands.
	_, st := loadTrained(t, filepath.Join(out, "checkpoint.safetensors"))
	assert.Equal(t, 3, st.Epoch)
	assert.Equal(t, 0, st.Batch)
	assert.Len(t, st.History, 3)

	// A finished run resumed has nothing to do; with more epochs it goes on.
	ckpt := filepath.Join(out, "checkpoint.safetensors")
	r = runIn(context.Background(), "train", "--resume", ckpt, "--progress", "off")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "nothing to do")
	r = runIn(context.Background(), "train", "--resume", ckpt, "--progress", "off", "--epochs", "4")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "====> Epoch: 4 Average loss:")
	assert.NotContains(t, r.stdout, "====> Epoch: 3 Average loss:")
	assert.Len(t, readMetrics(t, filepath.Join(out, "metrics.jsonl")), 4)
}

// loadTrained loads a checkpoint written by fastvae train.
func loadTrained(t *testing.T, path string) (*vae.Model, trainState) {
	m, st, err := loadCheckpoint(path)
	require.NoError(t, err)
	return m, st
}

// interruptAfter runs args in-process, delivering a simulated SIGINT after
// step k, and returns the result.
func interruptAfter(t *testing.T, k int, args []string) result {
	ctx, cancel := context.WithCancelCause(context.Background())
	afterStep = func(step int, _ *vae.Model) {
		if step == k {
			cancel(interrupt{os.Interrupt})
		}
	}
	defer func() { afterStep = nil }()
	return runIn(ctx, args...)
}

// requireSameState fails unless two checkpoints hold the same bits:
// parameters, Adam moments and step, and training state.
func requireSameState(t *testing.T, a, b string) {
	ma, sa := loadTrained(t, a)
	mb, sb := loadTrained(t, b)
	pa, pb := ma.Params(), mb.Params()
	require.Len(t, pb, len(pa))
	for i := range pa {
		for j := range pa[i].Value {
			if math.Float32bits(pa[i].Value[j]) != math.Float32bits(pb[i].Value[j]) {
				require.Failf(t, "weights differ", "%s[%d]: %v vs %v", pa[i].Name, j, pa[i].Value[j], pb[i].Value[j])
			}
		}
	}
	oa, ob := ma.Optimizer(), mb.Optimizer()
	require.Equal(t, oa.Steps, ob.Steps)
	require.Equal(t, oa.M, ob.M)
	require.Equal(t, oa.V, ob.V)
	sa.Out, sb.Out = "", ""
	require.Equal(t, sa, sb)
}

func TestResumeIsBitIdentical(t *testing.T) {
	data := makeData(t, tiny)
	for _, binarize := range []bool{false, true} {
		var extra []string
		if binarize {
			extra = []string{"--binarize"}
		}
		ref := t.TempDir()
		r := runIn(context.Background(), tinyTrain(data, ref, extra...)...)
		require.NoError(t, r.err, r.stderr)
		refLines := strings.Split(r.stdout, "\n")

		// 10 steps per epoch: stop mid-epoch, at an epoch's end, and twice.
		for _, stops := range [][]int{{3}, {10}, {14}, {5, 12}} {
			t.Run(fmt.Sprintf("binarize=%v/stops=%v", binarize, stops), func(t *testing.T) {
				out := t.TempDir()
				ckpt := filepath.Join(out, "checkpoint.safetensors")
				args := tinyTrain(data, out, extra...)
				var stdout string
				for i, k := range stops {
					r := interruptAfter(t, k, args)
					require.Error(t, r.err)
					assert.Equal(t, 130, r.code)
					assert.Regexp(t, `^fastvae: interrupted by SIGINT (in epoch \d+ after batch \d+ of 10|at the end of epoch \d+); checkpoint written to .*; continue with: fastvae train --resume `+regexp.QuoteMeta(ckpt)+"\n$", r.stderr)
					stdout += r.stdout
					args = []string{"train", "--resume", ckpt, "--progress", "off"}
					if i+1 < len(stops) {
						stops[i+1] -= k // steps count per run
					}
				}
				r := runIn(context.Background(), args...)
				require.NoError(t, r.err, r.stderr)
				requireSameState(t, filepath.Join(ref, "checkpoint.safetensors"), ckpt)
				// The epoch summaries printed across the runs are those of
				// the uninterrupted run.
				stdout += r.stdout
				for _, l := range refLines {
					if strings.HasPrefix(l, "====> Epoch:") || strings.HasPrefix(l, "====> Test") {
						assert.Contains(t, stdout, l+"\n")
					}
				}
			})
		}
	}
}

func TestResumeRejectsOtherConfiguration(t *testing.T) {
	_, _, ckpt := trainedTiny(t, "--epochs", "1")
	for _, c := range []struct{ flag, value, want string }{
		{"--latent", "3", "--latent 3 disagrees with checkpoint " + ckpt + ", which was trained with --latent 2"},
		{"--hidden", "8,4", "--hidden 8,4 disagrees with checkpoint " + ckpt + ", which was trained with --hidden 8"},
		{"--batch-size", "64", "--batch-size 64 disagrees"},
		{"--seed", "2", "--seed 2 disagrees"},
		{"--decoder", "gaussian", "--decoder gaussian disagrees"},
		{"--binarize", "true", "--binarize true disagrees"},
	} {
		r := runIn(context.Background(), "train", "--resume", ckpt, "--progress", "off", c.flag+"="+c.value)
		assert.Equal(t, 1, r.code, c.flag)
		assert.Contains(t, r.stderr, c.want)
	}
	// Explicit flags that agree are fine.
	r := runIn(context.Background(), "train", "--resume", ckpt, "--progress", "off", "--latent", "2", "--epochs", "2")
	require.NoError(t, r.err, r.stderr)
}

func TestNonFiniteLossStops(t *testing.T) {
	data, out := makeData(t, tiny), t.TempDir()
	ckpt := filepath.Join(out, "checkpoint.safetensors")
	// Poison a weight after step 13 (in epoch 2): step 14 has a NaN loss.
	afterStep = func(step int, m *vae.Model) {
		if step == 13 {
			m.Params()[0].Value[0] = float32(math.NaN())
		}
	}
	defer func() { afterStep = nil }()
	r := runIn(context.Background(), tinyTrain(data, out)...)
	require.Error(t, r.err)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "fastvae: epoch 2, batch 4 of 10 (step 14): the training loss is NaN; stopped without saving (the last good checkpoint is "+ckpt+"); a lower --lr may help\n", r.stderr)
	m, st := loadTrained(t, ckpt)
	assert.Equal(t, 1, st.Epoch)
	assert.False(t, math.IsNaN(float64(m.Params()[0].Value[0])))

	// Before any checkpoint exists, the message says so.
	afterStep = func(step int, m *vae.Model) { m.Params()[0].Value[0] = float32(math.Inf(1)) }
	r = runIn(context.Background(), tinyTrain(data, t.TempDir())...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "epoch 1, batch 2 of 10 (step 2): the training loss is ")
	assert.Contains(t, r.stderr, "no checkpoint was written")
}

func TestProgressAndNotes(t *testing.T) {
	data := makeData(t, tiny)
	r := runIn(context.Background(), tinyTrain(data, t.TempDir(), "--progress", "on", "--epochs", "1", "--no-cuda", "--no-accel")...)
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stderr, "fastvae: note: --no-cuda ignored: fastvae runs on the CPU\n")
	assert.Contains(t, r.stderr, "fastvae: note: --no-accel ignored")
	assert.Contains(t, r.stderr, "\r\033[Kepoch 1/1 [")
	assert.Contains(t, r.stderr, "images/s")
	assert.NotContains(t, r.stdout, "\r", "the bar stays on stderr")

	// Not a terminal: no bar by default.
	r = runIn(context.Background(), tinyTrain(data, t.TempDir(), "--epochs", "1", "--progress", "auto")...)
	require.NoError(t, r.err)
	assert.Empty(t, r.stderr)
}

func TestTrainOptions(t *testing.T) {
	data := makeData(t, dataSpec{train: 100, test: 20, rows: 3, cols: 5, gzip: true})
	for _, extra := range [][]string{
		{"--decoder", "gaussian", "--sigma", "0.5", "--beta", "2"},
		{"--hidden", "12,6", "--latent", "3", "--threads", "1"},
		{"--kernels", "generic", "--binarize"},
	} {
		out := t.TempDir()
		r := runIn(context.Background(), tinyTrain(data, out, append(extra, "--epochs", "1")...)...)
		require.NoError(t, r.err, "%v: %s", extra, r.stderr)
		assert.FileExists(t, filepath.Join(out, "sample_1.png"))
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(readFile(t, filepath.Join(out, "metrics.jsonl")))), &rec))
		if extra[0] == "--kernels" {
			assert.Equal(t, "generic", rec["kernels"])
		}
	}
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
