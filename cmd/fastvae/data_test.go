package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fastvae/fastvae/internal/fixture"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// losses returns the lines of a training log that carry numbers the run
// computed (every line but the first, which names the data, and the
// timings).
func losses(stdout string) string {
	var keep []string
	for i, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if i > 0 && !strings.HasPrefix(l, "====> Time:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestFormatsTrainAsIDX trains one epoch on the same examples read from
// every format, as NumPy and PIL write them, and requires every printed
// loss to be the one of the IDX original, to the last digit.
func TestFormatsTrainAsIDX(t *testing.T) {
	fixture.Require(t)
	idxDir := makeData(t, dataSpec{train: 300, test: 40, rows: 4, cols: 4, labels: true, sorted: true})
	dir := fixture.Write(t, idxDir)
	j := func(n string) string { return filepath.Join(dir, n) }
	train := func(t *testing.T, out string, args ...string) string {
		r := runIn(context.Background(), tinyTrain(args[0], out, append([]string{"--epochs", "1"}, args[1:]...)...)...)
		require.NoError(t, r.err, r.stderr)
		return r.stdout
	}
	want := train(t, t.TempDir(), idxDir)
	require.Contains(t, want, "====> Test set loss: ")

	for _, c := range []struct {
		name string
		args []string
	}{
		// Data of images get pictures (checked below); CSV rows are not images.
		{"npz keras", []string{j("mnist.npz")}},
		{"npz stored, named keys", []string{j("stored.npz"), "--npz-keys", "images,test_images,labels,test_labels"}},
		{"npy uint8 + test npy", []string{j("train_v1.npy"), "--test-data", j("test.npy")}},
		{"npy v3, fortran big-endian float32", []string{j("train_f4_fortran_big.npy"), "--test-data", j("test_f4.npy")}},
		{"npy fortran uint8", []string{j("train_u1_fortran.npy"), "--test-data", j("test.npy")}},
		{"npy float64 big-endian", []string{j("train_f8_big.npy"), "--test-data", j("test.npy")}},
		{"csv with header", []string{j("train_header.csv"), "--test-data", j("test_noheader.csv")}},
		{"csv without header", []string{j("train_noheader.csv"), "--test-data", j("test_noheader.csv")}},
		{"csv label column", []string{j("train_label.csv"), "--test-data", j("test_label.csv"), "--label-column", "label"}},
		{"csv string labels", []string{j("train_names.csv"), "--test-data", j("test_names.csv"), "--label-column", "label", "--header"}},
		{"tsv label index", []string{j("train_label_last.tsv"), "--test-data", j("test_label_last.tsv"), "--label-column", "16"}},
		{"png imagefolder", []string{j("png/train"), "--test-data", j("png/test")}},
		{"gif imagefolder", []string{j("gif/train"), "--test-data", j("png/test")}},
		{"npz keras test set", []string{j("png_flat"), "--test-data", j("mnist.npz")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			got := train(t, out, c.args...)
			assert.Equal(t, losses(want), losses(got))
			assert.FileExists(t, filepath.Join(out, "latent_1.png"))
			if strings.Contains(got, " images of 4×4 from ") {
				assert.FileExists(t, filepath.Join(out, "reconstruction_1.png"))
			} else {
				assert.Contains(t, got, " examples of 16 values from ")
				assert.NoFileExists(t, filepath.Join(out, "reconstruction_1.png"))
			}
		})
	}

	t.Run("rgb", func(t *testing.T) {
		// Colour: the same images from .npy and from PNG files, in colour
		// pictures.
		outNPY, outPNG := t.TempDir(), t.TempDir()
		a := train(t, outNPY, j("train_rgb.npy"), "--test-data", j("test_rgb.npy"))
		b := train(t, outPNG, j("rgb/train"), "--test-data", j("rgb/test"))
		assert.Contains(t, a, "300 training and 40 test images of 4×4×3 from")
		assert.Equal(t, losses(a), losses(b))
		for _, name := range []string{"reconstruction_1.png", "sample_1.png", "manifold_1.png"} {
			img := readPNGFile(t, filepath.Join(outPNG, name))
			_, colour := img.(*image.RGBA)
			assert.True(t, colour, "%s is in colour", name)
		}
		r := runIn(context.Background(), "sample", "--checkpoint", filepath.Join(outPNG, "checkpoint.safetensors"), "--out", filepath.Join(outPNG, "s.png"), "--n", "4")
		require.NoError(t, r.err, r.stderr)
		_, colour := readPNGFile(t, filepath.Join(outPNG, "s.png")).(*image.RGBA)
		assert.True(t, colour)
	})
	t.Run("jpeg", func(t *testing.T) {
		// Lossy: other values, so only a sound run.
		out := t.TempDir()
		got := train(t, out, j("jpeg/train"), "--test-split", "0.2")
		assert.Contains(t, got, "240 training and 60 test images of 4×4 from "+j("jpeg/train")+" (60 of its 300 held out for testing, seed 1)")
		got = train(t, t.TempDir(), j("jpeg_rgb/train"))
		assert.Contains(t, got, "270 training and 30 test images of 4×4×3")
	})
}

func readPNGFile(t *testing.T, path string) image.Image {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, _, err := image.Decode(f)
	require.NoError(t, err)
	return img
}

// TestHeldOutSplit: data without a test part lose a seeded tenth to the
// test set; the checkpoint records it, so eval, encode and a resumed run
// use the same examples.
func TestHeldOutSplit(t *testing.T) {
	fixture.Require(t)
	idxDir := makeData(t, dataSpec{train: 300, test: 40, rows: 4, cols: 4, labels: true})
	dir := fixture.Write(t, idxDir)
	data := filepath.Join(dir, "train_v1.npy")
	out := t.TempDir()
	r := runIn(context.Background(), tinyTrain(data, out, "--epochs", "2")...)
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "270 training and 30 test images of 4×4 from "+data+" (30 of its 300 held out for testing, seed 1)")
	ckpt := filepath.Join(out, "checkpoint.safetensors")
	_, st := loadTrained(t, ckpt)
	assert.Equal(t, 0.1, st.TestSplit)
	assert.Equal(t, 300, st.Examples)
	assert.Equal(t, 270, st.TrainImages)

	// eval and encode read the checkpoint's data and its held-out
	// examples, or the rest.
	ev := runIn(context.Background(), "eval", "--checkpoint", ckpt)
	require.NoError(t, ev.err, ev.stderr)
	assert.Contains(t, ev.stdout, "30 images of "+data)
	ev2 := runIn(context.Background(), "eval", "--checkpoint", ckpt, "--split", "train")
	require.NoError(t, ev2.err, ev2.stderr)
	assert.Contains(t, ev2.stdout, "270 images of "+data)

	enc := runIn(context.Background(), "encode", "--checkpoint", ckpt)
	require.NoError(t, enc.err, enc.stderr)
	assert.Equal(t, 31, strings.Count(enc.stdout, "\n"))
	again := runIn(context.Background(), "eval", "--checkpoint", ckpt)
	assert.Equal(t, ev.stdout, again.stdout)

	// A resumed run ends where an uninterrupted one does.
	half := t.TempDir()
	r = runIn(context.Background(), tinyTrain(data, half, "--epochs", "1")...)
	require.NoError(t, r.err, r.stderr)
	r = runIn(context.Background(), "train", "--resume", filepath.Join(half, "checkpoint.safetensors"), "--epochs", "2", "--progress", "off")
	require.NoError(t, r.err, r.stderr)
	requireSameState(t, ckpt, filepath.Join(half, "checkpoint.safetensors"))

	// Another seed holds out other examples, and so trains otherwise.
	r2 := runIn(context.Background(), tinyTrain(data, t.TempDir(), "--epochs", "1", "--seed", "2")...)
	require.NoError(t, r2.err, r2.stderr)
	// Other data with another count cannot be the recorded split's.
	other := filepath.Join(dir, "test.npy")
	bad := runIn(context.Background(), "eval", "--checkpoint", ckpt, "--data", other)
	require.Error(t, bad.err)
	assert.Contains(t, bad.err.Error(), other+": 40 examples, but checkpoint "+ckpt+" held out 0.1 of the 300 it was trained on")
	bad = runIn(context.Background(), "train", "--resume", ckpt, "--data", other, "--epochs", "3", "--progress", "off")
	require.Error(t, bad.err)
	assert.Contains(t, bad.err.Error(), other+": 40 examples, but checkpoint "+ckpt+" held out 30 of the 300 it was trained on: give the same data")
}

func pngOf(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

// tabular writes a CSV of n rows of three features far outside [0, 1]
// (and a label column), correlated so that a VAE has something to learn.
func tabular(t *testing.T, n int) string {
	r := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteString("height,weight,species,age\n")
	for i := range n {
		h := 150 + 30*r.NormFloat64()
		sp := []string{"setosa", "virginica"}[i%2]
		fmt.Fprintf(&b, "%.3f,%.3f,%s,%d\n", h, 0.5*h+5*r.NormFloat64(), sp, 20+r.IntN(50))
	}
	path := filepath.Join(t.TempDir(), "table.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

// TestTabularNormalize: table data train with --normalize and the Gaussian
// decoder; the statistics come from the training part and live in the
// checkpoint; no image grids; samples come out as CSV in the data's scale.
func TestTabularNormalize(t *testing.T) {
	data := tabular(t, 400)
	out := t.TempDir()
	args := tinyTrain(data, out, "--decoder", "gaussian", "--normalize", "--label-column", "species")
	r := runIn(context.Background(), args...)
	require.NoError(t, r.err, r.stderr)
	assert.Contains(t, r.stdout, "360 training and 40 test examples of 3 values from "+data)
	for _, f := range []string{"loss.png", "metrics.jsonl", "latent_3.png", "checkpoint.safetensors"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
	for _, f := range []string{"reconstruction_1.png", "sample_1.png", "manifold_1.png"} {
		assert.NoFileExists(t, filepath.Join(out, f))
	}
	ckpt := filepath.Join(out, "checkpoint.safetensors")
	_, st := loadTrained(t, ckpt)
	require.NotNil(t, st.Normalize)
	assert.Equal(t, []string{"height", "weight", "age"}, st.Columns)
	assert.Equal(t, []string{"setosa", "virginica"}, st.Classes)
	assert.InDelta(t, 150, st.Normalize.Mean[0], 10)
	assert.InDelta(t, 30, st.Normalize.Std[0], 6)

	// The same run again gives the same bits.
	r2 := runIn(context.Background(), tinyTrain(data, t.TempDir(), "--decoder", "gaussian", "--normalize", "--label-column", "species")...)
	require.NoError(t, r2.err)
	assert.Equal(t, losses(r.stdout), losses(r2.stdout))

	ev := runIn(context.Background(), "eval", "--checkpoint", ckpt)
	require.NoError(t, ev.err, ev.stderr)
	assert.Contains(t, ev.stdout, "nats per example; 40 examples of "+data)

	// Samples: CSV by default for data that are not images, with the
	// data's columns, in its scale.
	samples := filepath.Join(out, "s.csv")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--out", samples, "--n", "200")
	require.NoError(t, r.err, r.stderr)
	recs := readCSV(t, samples)
	require.Len(t, recs, 201)
	assert.Equal(t, []string{"height", "weight", "age"}, recs[0])
	var sum float64
	for _, rec := range recs[1:] {
		v, err := strconv.ParseFloat(rec[0], 64)
		require.NoError(t, err)
		sum += v
	}
	assert.InDelta(t, 150, sum/200, 20, "samples are in the data's scale")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--format", "png")
	assert.ErrorContains(t, r.err, "not images")

	// encode names the classes.
	r = runIn(context.Background(), "encode", "--checkpoint", ckpt)
	require.NoError(t, r.err, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, "index,label,class,mu_0,mu_1,logvar_0,logvar_1\n"), r.stdout[:60])
	assert.Regexp(t, `\n0,[01],(setosa|virginica),`, r.stdout)
}

func readCSV(t *testing.T, path string) [][]string {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	return recs
}

// TestSampleFormats: any checkpoint samples as CSV or .npy too.
func TestSampleFormats(t *testing.T) {
	_, out, ckpt := trainedTiny(t, "--epochs", "1")
	p := filepath.Join(out, "s.csv")
	r := runIn(context.Background(), "sample", "--checkpoint", ckpt, "--format", "csv", "--out", p, "--n", "5")
	require.NoError(t, r.err, r.stderr)
	recs := readCSV(t, p)
	require.Len(t, recs, 5)
	require.Len(t, recs[0], 16)
	for _, v := range recs[0] {
		x, err := strconv.ParseFloat(v, 32)
		require.NoError(t, err)
		assert.True(t, x >= 0 && x <= 1 && !math.IsNaN(x))
	}
	p = filepath.Join(out, "s.npy")
	r = runIn(context.Background(), "sample", "--checkpoint", ckpt, "--format", "npy", "--out", p, "--n", "5")
	require.NoError(t, r.err, r.stderr)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Contains(t, string(b[:80]), "'shape': (5, 4, 4)")
}

// TestBadData runs the binary on bad data in every format: one line
// naming the file and the problem, exit status 1 (2 for bad flags), and
// nothing written to --out.
func TestBadData(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	grey := func(w, h int) string { return string(pngOf(t, image.NewGray(image.Rect(0, 0, w, h)))) }
	write("sizes/a.png", grey(4, 4))
	write("sizes/b.png", grey(5, 4))
	write("undecodable/a.png", grey(4, 4))
	write("undecodable/b.png", "\x89PNG but not really")
	npy := func(dict, data string) string {
		h := dict + "\n"
		return "\x93NUMPY\x01\x00" + string([]byte{byte(len(h)), 0}) + h + data
	}
	table := tabular(t, 50)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ragged csv", []string{"--data", write("ragged.csv", "1,2\n3\n")}, 1, "ragged.csv: line 2: 1 fields, but line 1 has 2"},
		{"non-numeric csv", []string{"--data", write("text.csv", "a,b\n0.1,0.2\n0.3,zz\n")}, 1, `text.csv: line 3, column 1 ("b"): "zz" is not a number`},
		{"empty csv", []string{"--data", write("empty.csv", "")}, 1, "empty.csv: empty file"},
		{"NaN", []string{"--data", write("nan.csv", "0.5\nnan\n")}, 1, "nan.csv: line 2, column 0: nan is not allowed"},
		{"object npy", []string{"--data", write("obj.npy", npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", strings.Repeat("\x00", 16)))}, 1, `obj.npy: dtype "|O": object arrays are not supported`},
		{"truncated npy", []string{"--data", write("short.npy", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 4, 4), }", "\x01\x02"))}, 1, "short.npy: truncated data: header declares shape (4, 4, 4) of |u1 (64 bytes), file has 2"},
		{"npz without keys", []string{"--data", write("k.npz", "PK\x05\x06"+strings.Repeat("\x00", 18))}, 1, `k.npz: no array "x_train" (the file has: no arrays)`},
		{"images of other sizes", []string{"--data", filepath.Join(dir, "sizes")}, 1, "b.png: 4×5 pixels (rows×columns), but " + filepath.Join(dir, "sizes", "a.png") + " is 4×4"},
		{"undecodable image", []string{"--data", filepath.Join(dir, "undecodable")}, 1, filepath.Join(dir, "undecodable", "b.png") + ": not a readable image"},
		{"bernoulli on wide values", []string{"--data", table, "--label-column", "species"}, 1, `: value \d+\.\d+ is outside \[0, 1\]; the bernoulli decoder needs values in \[0, 1\]: use --decoder gaussian`},
		{"no label column", []string{"--data", table, "--label-column", "kind", "--decoder", "gaussian"}, 1, `no column named "kind"`},
		{"normalize bernoulli", []string{"--data", table, "--normalize"}, 2, "--normalize: standardised values lie outside [0, 1], which the bernoulli decoder needs: add --decoder gaussian"},
		{"normalize binarize", []string{"--data", table, "--normalize", "--binarize", "--decoder", "gaussian"}, 2, "--normalize and --binarize"},
		{"bad test split", []string{"--data", table, "--test-split", "1"}, 2, "--test-split 1: want a fraction between 0 and 1"},
		{"bad npz keys", []string{"--data", table, "--npz-keys", "a"}, 2, `--npz-keys "a": want train,test`},
		{"missing test data", []string{"--data", table, "--label-column", "species", "--decoder", "gaussian", "--test-data", filepath.Join(dir, "none.csv")}, 1, "data " + filepath.Join(dir, "none.csv") + " does not exist"},
		{"test data of other shape", []string{"--data", write("two.csv", "0.1,0.2\n0.3,0.4\n"), "--test-data", write("three.csv", "0.1,0.2,0.3\n")}, 1, "three.csv: test examples of 3 values, but the training examples (" + filepath.Join(dir, "two.csv") + ") are 2 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			r := runBinary(t, append([]string{"train", "--out", out, "--epochs", "1", "--progress", "off"}, tt.args...)...)
			assert.Equal(t, tt.code, r.code, "stderr: %s", r.stderr)
			assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
			assert.True(t, strings.HasPrefix(r.stderr, "fastvae: "), r.stderr)
			if strings.HasPrefix(tt.want, ": value") { // a pattern
				assert.Regexp(t, regexp.QuoteMeta(table+`: line 2, column 0 ("height")`)+tt.want, r.stderr)
			} else {
				assert.Contains(t, r.stderr, tt.want)
			}
			assert.NotContains(t, r.stderr, "panic")
			assert.NoDirExists(t, out, "nothing written before the data are known good")
		})
	}
}
