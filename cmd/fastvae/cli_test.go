package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadInput runs the binary on bad command lines and bad data: each must
// fail with one line on stderr naming the flag or file and the problem, the
// right exit status, and no panic.
func TestBadInput(t *testing.T) {
	good := makeData(t, tiny)
	trained := t.TempDir()
	r := runIn(context.Background(), tinyTrain(good, trained, "--epochs", "1")...)
	require.NoError(t, r.err, r.stderr)
	ckpt := filepath.Join(trained, "checkpoint.safetensors")

	// damaged returns a copy of the good data with one file replaced.
	damaged := func(name string, content []byte) string {
		dir := t.TempDir()
		entries, err := os.ReadDir(good)
		require.NoError(t, err)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(good, e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
		}
		if content == nil {
			require.NoError(t, os.Remove(filepath.Join(dir, name)))
		} else {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o644))
		}
		return dir
	}
	trainImages := readFile(t, filepath.Join(good, "train-images-idx3-ubyte"))
	badMagic := damaged("train-images-idx3-ubyte", []byte("\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
	truncated := damaged("train-images-idx3-ubyte", []byte(trainImages[:100]))
	badGzip := damaged("train-images-idx3-ubyte", nil)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(trainImages))
	require.NoError(t, zw.Close())
	gzBytes := gz.Bytes()
	gzBytes[len(gzBytes)-8] ^= 0xff // damage the CRC-32
	require.NoError(t, os.WriteFile(filepath.Join(badGzip, "train-images-idx3-ubyte.gz"), gzBytes, 0o644))
	labels := damaged("train-labels-idx1-ubyte", []byte("\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02"))
	noTrain := damaged("train-images-idx3-ubyte", nil)
	otherSize := makeData(t, dataSpec{train: 50, test: 10, rows: 5, cols: 5})
	conditional := t.TempDir()
	r = runIn(context.Background(), tinyTrain(good, conditional, "--epochs", "1", "--conditional")...)
	require.NoError(t, r.err, r.stderr)
	condCkpt := filepath.Join(conditional, "checkpoint.safetensors")
	unlabeled := makeData(t, dataSpec{train: 50, test: 10, rows: 4, cols: 4})
	garbage := filepath.Join(t.TempDir(), "garbage.safetensors")
	require.NoError(t, os.WriteFile(garbage, []byte("not a checkpoint at all"), 0o644))

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "fastvae: no command given"},
		{"unknown command", []string{"fit"}, 2, `unknown command "fit"`},
		{"unknown flag", []string{"train", "--bogus"}, 2, "train: flag provided but not defined: --bogus (see 'fastvae help train')"},
		{"bad int", []string{"train", "--epochs", "ten"}, 2, `train: invalid value "ten" for flag --epochs: parse error`},
		{"missing value", []string{"train", "--epochs"}, 2, "flag needs an argument: --epochs"},
		{"zero batch", []string{"train", "--batch-size", "0"}, 2, "--batch-size 0: must be at least 1"},
		{"negative threads", []string{"train", "--threads", "-1"}, 2, "--threads -1: must be at least 0"},
		{"bad lr", []string{"train", "--lr", "-1"}, 2, "--lr -1: must be a positive finite number"},
		{"nan sigma", []string{"train", "--sigma", "NaN"}, 2, "--sigma NaN: must be a positive finite number"},
		{"bad beta", []string{"train", "--beta", "-0.5"}, 2, "--beta -0.5: must be a non-negative finite number"},
		{"bad hidden", []string{"train", "--hidden", "400,x"}, 2, `--hidden "400,x": "x" is not a positive whole number`},
		{"bad decoder", []string{"train", "--decoder", "poisson"}, 2, `--decoder "poisson": want bernoulli or gaussian`},
		{"bad progress", []string{"train", "--progress", "maybe"}, 2, `--progress "maybe": want auto, on, off`},
		{"bad kernels", []string{"train", "--data", good, "--kernels", "avx9"}, 2, `--kernels avx9: unknown implementation "avx9"`},
		{"extra argument", []string{"train", "extra"}, 2, `train: unexpected argument "extra"`},
		{"missing data dir", []string{"train", "--data", "/nonexistent/mnist"}, 1, "data /nonexistent/mnist does not exist"},
		{"data is an IDX file", []string{"train", "--data", filepath.Join(good, "train-images-idx3-ubyte")}, 1, "train-images-idx3-ubyte is an IDX file: give the directory that holds it"},
		{"no training images", []string{"train", "--data", noTrain}, 1, noTrain + ": no train-images-idx3-ubyte or train-images-idx3-ubyte.gz"},
		{"wrong magic", []string{"train", "--data", badMagic}, 1, filepath.Join(badMagic, "train-images-idx3-ubyte") + ": bad magic number 0x00000801"},
		{"truncated", []string{"train", "--data", truncated}, 1, filepath.Join(truncated, "train-images-idx3-ubyte") + ": truncated data: header declares 300×4×4 (4800 bytes), file has 84"},
		{"gzip error", []string{"train", "--data", badGzip}, 1, filepath.Join(badGzip, "train-images-idx3-ubyte.gz") + ": corrupt gzip stream: invalid checksum"},
		{"label count", []string{"train", "--data", labels}, 1, "2 labels for the 300 images of"},
		{"missing checkpoint", []string{"train", "--data", good, "--resume", "/nonexistent/c.safetensors"}, 1, "/nonexistent/c.safetensors: no such file or directory"},
		{"corrupt checkpoint", []string{"train", "--data", good, "--resume", garbage}, 1, garbage},
		{"other config", []string{"train", "--data", good, "--resume", ckpt, "--latent", "5"}, 1, "--latent 5 disagrees with checkpoint"},
		{"data of other size", []string{"train", "--data", otherSize, "--resume", ckpt}, 1, "images of 5×5=25 pixels, but checkpoint " + ckpt + " takes 16"},
		{"eval other size", []string{"eval", "--checkpoint", ckpt, "--data", otherSize}, 1, "t10k-images-idx3-ubyte: images of 5×5=25 pixels, but checkpoint " + ckpt + " takes 16"},
		{"eval no checkpoint", []string{"eval", "--checkpoint", "/nonexistent/c.safetensors"}, 1, "no such file or directory"},
		{"eval bad split", []string{"eval", "--split", "validation"}, 2, `--split "validation": want test, train, valid`},
		{"eval bad kernels", []string{"eval", "--checkpoint", ckpt, "--kernels", "avx9"}, 2, `--kernels avx9: unknown implementation "avx9"`},
		{"encode negative threads", []string{"encode", "--checkpoint", ckpt, "--threads", "-2"}, 2, "--threads -2: must be at least 0"},
		{"sample zero", []string{"sample", "--n", "0"}, 2, "--n 0: must be at least 1"},
		{"sample bad size", []string{"sample", "--checkpoint", ckpt, "--size", "3x3"}, 2, `--size "3x3": want ROWSxCOLS with ROWS·COLS = 16`},
		{"sample bad out", []string{"sample", "--checkpoint", ckpt, "--out", "/nonexistent/s.png"}, 1, "/nonexistent"},
		{"encode bad out", []string{"encode", "--checkpoint", ckpt, "--data", good, "--out", "/nonexistent/x.csv"}, 1, "/nonexistent/x.csv"},
		{"help unknown", []string{"help", "fit"}, 2, `help: unknown command "fit"`},

		{"patience without validation", []string{"train", "--data", good, "--patience", "3"}, 2, "--patience needs --val-split F: it watches the validation loss"},
		{"keep-best without validation", []string{"train", "--data", good, "--keep-best", "--resume", "auto"}, 2, "--keep-best needs --val-split F"},
		{"keep-best on resume without validation", []string{"train", "--resume", ckpt, "--keep-best"}, 1, "--keep-best: checkpoint " + ckpt + " was trained without --val-split"},
		{"bad val split", []string{"train", "--val-split", "1.5"}, 2, "--val-split 1.5: want a fraction between 0 and 1"},
		{"bad schedule", []string{"train", "--lr-schedule", "linear"}, 2, `--lr-schedule "linear": want constant, step or cosine`},
		{"step without step schedule", []string{"train", "--lr-step", "3"}, 2, "--lr-step goes with --lr-schedule step"},
		{"step schedule without step", []string{"train", "--lr-schedule", "step"}, 2, "--lr-step 0: must be at least 1"},
		{"bad gamma", []string{"train", "--lr-schedule", "step", "--lr-step", "2", "--lr-gamma", "-1"}, 2, "--lr-gamma -1: must be a positive finite number"},
		{"negative warm-up", []string{"train", "--kl-warmup", "-1"}, 2, "--kl-warmup -1: must be at least 0"},
		{"negative final nll", []string{"train", "--final-nll", "-5"}, 2, "--final-nll -5: must be at least 0"},
		{"other warm-up on resume", []string{"train", "--resume", ckpt, "--kl-warmup", "2"}, 1, "--kl-warmup 2 disagrees with checkpoint " + ckpt + ", which was trained with --kl-warmup 0"},
		{"other schedule on resume", []string{"train", "--resume", ckpt, "--lr-schedule", "cosine"}, 1, "--lr-schedule cosine disagrees with checkpoint " + ckpt + ", which was trained with --lr-schedule constant"},
		{"conditional without labels", []string{"train", "--data", unlabeled, "--conditional"}, 1, "--conditional: " + filepath.Join(unlabeled, "train-images-idx3-ubyte") + " has no labels to condition on"},
		{"conditional on unlabeled data", []string{"eval", "--checkpoint", condCkpt, "--data", unlabeled}, 1, "t10k-images-idx3-ubyte has no labels, but checkpoint " + condCkpt + " is conditional (10 classes)"},
		{"label of an unconditional model", []string{"sample", "--checkpoint", ckpt, "--label", "3"}, 1, "--label 3: checkpoint " + ckpt + " is not a conditional model"},
		{"label out of range", []string{"sample", "--checkpoint", condCkpt, "--label", "12"}, 1, "--label 12: checkpoint " + condCkpt + " has 10 classes, 0 to 9"},
		{"label unknown", []string{"sample", "--checkpoint", condCkpt, "--label", "cat"}, 2, `--label "cat": want a class number (0 to 9), a class name of the checkpoint or all`},
		{"scores without samples", []string{"eval", "--checkpoint", ckpt, "--scores", "s.csv"}, 2, "--scores needs --iw-samples K"},
		{"negative samples", []string{"eval", "--checkpoint", ckpt, "--iw-samples", "-1"}, 2, "--iw-samples -1: must be at least 0"},
		{"eval bad progress", []string{"eval", "--checkpoint", ckpt, "--iw-samples", "2", "--progress", "x"}, 2, `--progress "x": want auto, on, off`},
		{"no validation set", []string{"eval", "--checkpoint", ckpt, "--split", "valid"}, 1, "--split valid: checkpoint " + ckpt + " was trained without --val-split"},
		{"scores bad out", []string{"eval", "--checkpoint", ckpt, "--data", good, "--iw-samples", "2", "--scores", "/nonexistent/s.csv"}, 1, "/nonexistent/s.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinary(t, tt.args...)
			assert.Equal(t, tt.code, r.code, "stderr: %s", r.stderr)
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			assert.True(t, strings.HasPrefix(last, "fastvae: "), "stderr: %q", r.stderr)
			assert.Contains(t, last, tt.want)
			if tt.args != nil { // with no command, the help precedes the error
				assert.Len(t, lines, 1, "one line on stderr: %q", r.stderr)
			}
			assert.NotContains(t, r.stderr, "panic")
			assert.NotContains(t, r.stderr, "goroutine")
		})
	}
}

func TestHelp(t *testing.T) {
	r := runBinary(t, "help")
	assert.Equal(t, 0, r.code)
	for _, c := range []string{"train", "eval", "sample", "encode", "help"} {
		assert.Contains(t, r.stdout, "\t"+c)
	}
	r = runBinary(t, "help", "train")
	assert.Equal(t, 0, r.code)
	for _, f := range []string{"batch-size", "epochs", "seed", "log-interval", "lr", "no-cuda", "no-accel", "data", "out",
		"latent", "hidden", "decoder", "sigma", "beta", "binarize", "threads", "kernels", "checkpoint", "resume", "progress",
		"test-data", "test-split", "npz-keys", "header", "label-column", "normalize",
		"val-split", "keep-best", "patience", "kl-warmup", "lr-schedule", "lr-step", "lr-gamma", "conditional", "final-nll"} {
		assert.Regexp(t, "\n  --"+f+"[ \n]", r.stdout)
	}
	assert.Contains(t, r.stdout, "(default 128)")
	for _, c := range []string{"eval", "encode"} {
		r = runBinary(t, "help", c)
		for _, f := range []string{"data", "test-data", "npz-keys", "header", "label-column", "split", "checkpoint"} {
			assert.Regexp(t, "\n  --"+f+"[ \n]", r.stdout, c)
		}
	}
	r = runBinary(t, "help", "eval")
	for _, f := range []string{"iw-samples", "scores", "seed", "progress"} {
		assert.Regexp(t, "\n  --"+f+"[ \n]", r.stdout)
	}
	r = runBinary(t, "help", "sample")
	assert.Contains(t, r.stdout, "--format")
	assert.Contains(t, r.stdout, "--label")
	for _, c := range []string{"eval", "encode", "sample"} {
		r = runBinary(t, "help", c)
		for _, f := range []string{"checkpoint", "threads", "kernels"} {
			assert.Regexp(t, "\n  --"+f+"[ \n]", r.stdout, c)
		}
	}
	r = runBinary(t, "train", "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "Usage: fastvae train")
}

func TestTools(t *testing.T) {
	data, out, ckpt := trainedTiny(t, "--epochs", "1")

	r := runIn(context.Background(), "eval", "--checkpoint", ckpt, "--data", data)
	require.NoError(t, r.err, r.stderr)
	assert.Regexp(t, `^====> Test set loss: \d+\.\d{4}\nreconstruction \d+\.\d{4}, KL \d+\.\d{4} nats per image; 40 images of `, r.stdout)
	// The same bits on any number of threads.
	for _, threads := range []string{"1", "2"} {
		r1 := runIn(context.Background(), "eval", "--checkpoint", ckpt, "--data", data, "--threads", threads)
		require.NoError(t, r1.err, r1.stderr)
		assert.Equal(t, r.stdout, r1.stdout, "--threads %s", threads)
	}
	r = runIn(context.Background(), "eval", "--checkpoint", ckpt, "--data", data, "--split", "train")
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "====> Train set loss:")

	png1 := filepath.Join(out, "s.png")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--out", png1, "--n", "10", "--per-row", "5")
	require.NoError(t, r.err, r.stderr)
	f, err := os.Open(png1)
	require.NoError(t, err)
	img, err := png.Decode(f)
	f.Close()
	require.NoError(t, err)
	assert.Equal(t, 5*(4+2)+2, img.Bounds().Dx())
	assert.Equal(t, 2*(4+2)+2, img.Bounds().Dy())

	csvPath := filepath.Join(out, "z.csv")
	r = runIn(context.Background(), "encode", "--checkpoint", ckpt, "--data", data, "--out", csvPath)
	require.NoError(t, r.err, r.stderr)
	fh, err := os.Open(csvPath)
	require.NoError(t, err)
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 41)
	assert.Equal(t, []string{"index", "label", "mu_0", "mu_1", "logvar_0", "logvar_1"}, recs[0])
	assert.Equal(t, "39", recs[40][0])

	// Standard output is the default.
	r = runIn(context.Background(), "encode", "--checkpoint", ckpt, "--data", data, "--split", "train")
	require.NoError(t, r.err, r.stderr)
	assert.Equal(t, 301, strings.Count(r.stdout, "\n"))
}

// TestSignal interrupts the real process with SIGINT and SIGTERM: it writes
// a checkpoint, says how to resume and exits with 128+signal; resuming
// finishes the run.
func TestSignal(t *testing.T) {
	data := makeData(t, dataSpec{train: 3000, test: 40, rows: 8, cols: 8})
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command(binary, tinyTrain(data, out, "--epochs", "1000", "--log-interval", "1")...)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "Train Epoch: 2 ") {
					break
				}
			}
			require.NoError(t, cmd.Process.Signal(sig))
			go func() {
				for sc.Scan() {
				}
			}()
			done := make(chan error)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatal("no exit after the signal")
			}
			assert.Equal(t, 128+int(sig), cmd.ProcessState.ExitCode())
			name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[sig]
			ckpt := filepath.Join(out, "checkpoint.safetensors")
			assert.Regexp(t, fmt.Sprintf(`^fastvae: interrupted by %s (in epoch \d+ after batch \d+ of 94|at the end of epoch \d+); checkpoint written to %s; continue with: fastvae train --resume %s\n$`, name, ckpt, ckpt), stderr.String())
			_, st := loadTrained(t, ckpt)
			assert.GreaterOrEqual(t, st.Epoch, 1)

			r := runBinary(t, "train", "--resume", ckpt, "--epochs", fmt.Sprint(st.Epoch+1), "--progress", "off")
			assert.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, fmt.Sprintf("====> Epoch: %d Average loss:", st.Epoch+1))
		})
	}
}

func TestPanicBecomesOneLine(t *testing.T) {
	saved := commands
	defer func() { commands = saved }()
	boom := func(fs *flag.FlagSet) action {
		return func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
			var m map[string]int
			//lint:ignore SA5000 the test needs a runtime panic
			m["x"]++
			return nil
		}
	}
	commands = append([]*command{{"boom", "", "panic", boom}}, saved...)
	r := runIn(context.Background(), "boom")
	assert.Equal(t, 1, r.code)
	assert.Regexp(t, `^fastvae: internal error \(please report it\): assignment to entry in nil map \(.*/cmd/fastvae/cli_test.go:\d+\)\n$`, r.stderr)
}

// TestKilledAndRestarted kills a run of --resume auto with SIGKILL at
// random moments (training steps, evaluations, pictures, checkpoint
// writes, the final NLL), restarting the same command line after each kill
// as a job array would after a preemption, until it finishes by itself. The
// run must end with the uninterrupted run's checkpoint, best model and
// metrics, bit for bit, and leave no temporary files behind.
func TestKilledAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a training process many times")
	}
	data := makeData(t, dataSpec{train: 2000, test: 200, rows: 8, cols: 8, labels: true})
	args := func(out string) []string {
		return tinyTrain(data, out, "--epochs", "12", "--log-interval", "1", "--resume", "auto",
			"--conditional", "--kl-warmup", "3", "--lr-schedule", "cosine", "--val-split", "0.1", "--keep-best", "--patience", "4",
			"--final-nll", "500")
	}
	ref := t.TempDir()
	start := time.Now()
	r := runBinary(t, args(ref)...)
	require.Equal(t, 0, r.code, r.stderr)
	took := time.Since(start)

	out := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const kills = 20
	var delays []time.Duration
	var where []string // how far the checkpoint was after each kill
	for attempt := 0; ; attempt++ {
		require.Less(t, attempt, 100, "no end after %d kills at %v", len(delays), delays)
		cmd := exec.Command(binary, args(out)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if len(delays) < kills {
			// Each run gets on by about an eighth of the work, less
			// the start: the kills fall all along the run.
			d := time.Duration(rng.Int64N(int64(took / 4)))
			select {
			case <-time.After(d):
				require.NoError(t, cmd.Process.Kill())
				<-done
				delays = append(delays, d)
				w := "none"
				if _, st, err := loadCheckpoint(filepath.Join(out, "checkpoint.safetensors")); err == nil {
					w = fmt.Sprintf("epoch %d batch %d", st.Epoch, st.Batch)
					if st.NLL != nil {
						w += fmt.Sprintf(" nll %d", st.NLL.Done)
					}
				}
				where = append(where, w)
				continue
			case <-done:
			}
		} else {
			<-done
		}
		require.Equal(t, 0, cmd.ProcessState.ExitCode(), "after kills at %v: %s", delays, stderr.String())
		break
	}
	t.Logf("uninterrupted run %v; killed after %v; checkpoints then: %q", took, delays, where)
	requireSameState(t, filepath.Join(ref, "checkpoint.safetensors"), filepath.Join(out, "checkpoint.safetensors"))
	requireSameState(t, filepath.Join(ref, "best.safetensors"), filepath.Join(out, "best.safetensors"))
	assert.Equal(t, stableMetrics(t, filepath.Join(ref, "metrics.jsonl")), stableMetrics(t, filepath.Join(out, "metrics.jsonl")))
	left, err := filepath.Glob(filepath.Join(out, ".*"))
	require.NoError(t, err)
	assert.Empty(t, left, "temporary files")
}
