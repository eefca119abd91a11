package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastvae/fastvae/idx"
	"github.com/stretchr/testify/require"
)

// binary is the fastvae command built by TestMain, for the tests that need
// a real process (exit codes, signals).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fastvae-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "fastvae")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dataSpec describes a synthetic data set: blobs of light on a dark
// background whose position depends on the label, so a VAE has something
// to learn.
type dataSpec struct {
	train, test, rows, cols int
	labels, gzip            bool
	// sorted orders the examples by label, as an ImageFolder of them
	// (whose order is by class) holds them.
	sorted bool
}

var tiny = dataSpec{train: 300, test: 40, rows: 4, cols: 4, labels: true}

// makeData writes a synthetic data set into a new directory and returns it.
func makeData(t testing.TB, s dataSpec) string {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	for _, split := range []struct {
		name string
		n    int
	}{{"train", s.train}, {"t10k", s.test}} {
		pix := make([]byte, split.n*s.rows*s.cols)
		lab := make([]byte, split.n)
		for i := range split.n {
			l := r.IntN(10)
			if s.sorted {
				l = i * 10 / split.n
			}
			lab[i] = byte(l)
			cy, cx := l%s.rows, (l/2)%s.cols
			for y := range s.rows {
				for x := range s.cols {
					d := (y-cy)*(y-cy) + (x-cx)*(x-cx)
					v := max(0, 255-90*d) - r.IntN(40)
					pix[(i*s.rows+y)*s.cols+x] = byte(max(v, 0))
				}
			}
		}
		var img, lbl bytes.Buffer
		require.NoError(t, idx.WriteImages(&img, s.rows, s.cols, pix))
		require.NoError(t, idx.WriteLabels(&lbl, lab))
		writeIDX(t, filepath.Join(dir, split.name+"-images-idx3-ubyte"), img.Bytes(), s.gzip)
		if s.labels {
			writeIDX(t, filepath.Join(dir, split.name+"-labels-idx1-ubyte"), lbl.Bytes(), s.gzip)
		}
	}
	return dir
}

func writeIDX(t testing.TB, path string, b []byte, gz bool) {
	if gz {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		require.NoError(t, w.Close())
		b, path = buf.Bytes(), path+".gz"
	}
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// result is what a run of the command left.
type result struct {
	stdout, stderr string
	code           int
	err            error
}

// runIn runs the command in-process with ctx.
func runIn(ctx context.Context, args ...string) result {
	var out, errb bytes.Buffer
	err := run(ctx, args, &out, &errb)
	code := exitCode(err, &errb)
	return result{out.String(), errb.String(), code, err}
}

// runBinary runs the built command as a process.
func runBinary(t *testing.T, args ...string) result {
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{out.String(), errb.String(), code, nil}
}

// tinyTrain returns the flags of a fast training run on data into out.
// trainedTiny trains the tiny model on new tiny data with the extra flags
// and returns the data, the output directory and the checkpoint's path.
func trainedTiny(t *testing.T, extra ...string) (data, out, ckpt string) {
	t.Helper()
	data, out = makeData(t, tiny), t.TempDir()
	r := runIn(context.Background(), tinyTrain(data, out, extra...)...)
	require.NoError(t, r.err, r.stderr)
	return data, out, filepath.Join(out, "checkpoint.safetensors")
}

func tinyTrain(data, out string, extra ...string) []string {
	return append([]string{"train", "--data", data, "--out", out, "--hidden", "8", "--latent", "2",
		"--batch-size", "32", "--epochs", "3", "--log-interval", "4", "--progress", "off"}, extra...)
}

func readMetrics(t *testing.T, path string) []map[string]any {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		recs = append(recs, m)
	}
	return recs
}
