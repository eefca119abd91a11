package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/internal/cputime"
	"github.com/fastvae/fastvae/kernels"
	"github.com/fastvae/fastvae/nn"
	"github.com/fastvae/fastvae/vae"
)

type trainFlags struct {
	batchSize, epochs, logInterval, latent int
	seed                                   uint64
	lr, sigma, beta                        float64
	out, hidden, decoder                   string
	checkpoint, resume, progress           string
	binarize, normalize, noCUDA, noAccel   bool
	dataFlags
	cpuFlags
}

func setupTrain(fs *flag.FlagSet) func(context.Context, *flag.FlagSet, io.Writer, io.Writer) error {
	f := &trainFlags{}
	fs.IntVar(&f.batchSize, "batch-size", 128, "input batch size for training")
	fs.IntVar(&f.epochs, "epochs", 10, "number of epochs to train, in all (a resumed run counts the epochs already done)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed (initial weights, shuffling, noise)")
	fs.IntVar(&f.logInterval, "log-interval", 10, "how many batches to wait before logging training status")
	fs.Float64Var(&f.lr, "lr", 1e-3, "Adam learning rate")
	fs.BoolVar(&f.noCUDA, "no-cuda", false, "accepted for compatibility with the PyTorch example; fastvae runs on the CPU")
	fs.BoolVar(&f.noAccel, "no-accel", false, "accepted for compatibility with the PyTorch example; fastvae runs on the CPU")
	f.dataFlags.register(fs, true)
	fs.BoolVar(&f.normalize, "normalize", false, "standardise each value (mean 0, std 1 over the training examples; needs --decoder gaussian)")
	fs.StringVar(&f.out, "out", "results", "`directory` for pictures, metrics.jsonl and the checkpoint")
	fs.IntVar(&f.latent, "latent", 20, "latent dimensions")
	fs.StringVar(&f.hidden, "hidden", "400", "hidden layer `widths`, a comma list for deeper nets (512,256)")
	fs.StringVar(&f.decoder, "decoder", "bernoulli", "decoder distribution: bernoulli or gaussian")
	fs.Float64Var(&f.sigma, "sigma", 1, "standard deviation of the gaussian decoder")
	fs.Float64Var(&f.beta, "beta", 1, "weight of the KL term (beta-VAE)")
	fs.BoolVar(&f.binarize, "binarize", false, "binarize inputs dynamically (pixel p becomes 1 with probability p, afresh each epoch; the test set once)")
	f.cpuFlags.register(fs)
	fs.StringVar(&f.checkpoint, "checkpoint", "", "`path` of the checkpoint written after every epoch (default OUT/checkpoint.safetensors)")
	fs.StringVar(&f.resume, "resume", "", "continue training from the checkpoint at `path`")
	fs.StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), on or off")
	return func(ctx context.Context, fs *flag.FlagSet, stdout, stderr io.Writer) error {
		return train(ctx, f, explicit(fs), stdout, stderr)
	}
}

// trainState is the trainer's part of a checkpoint (metadata key "train"):
// with the model's own state it lets a run resume bit for bit.
type trainState struct {
	Epoch   int       `json:"epoch"`   // epochs completed
	Batch   int       `json:"batch"`   // batches of the next epoch done
	Partial vae.Stats `json:"partial"` // their summed losses

	Seed        uint64 `json:"seed"`
	BatchSize   int    `json:"batch_size"`
	Binarize    bool   `json:"binarize"`
	Epochs      int    `json:"epochs"`
	LogInterval int    `json:"log_interval"`
	Out         string `json:"out"`
	TrainImages int    `json:"train_images"` // training examples, images or not
	Rows        int    `json:"rows"`         // of the images, for pictures (0 for other data)
	Cols        int    `json:"cols"`
	dataState

	// Shuffle is the shuffling generator at the start of epoch Epoch+1;
	// DataRNG the binarisation generator now.
	Shuffle []byte `json:"shuffle"`
	DataRNG []byte `json:"data_rng,omitempty"`

	History []epochRecord `json:"history"`
}

type epochRecord struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	TestLoss  float64 `json:"test_loss"`
}

const metaKey = "train"

// afterStep, when set (by tests), is called after every training step with
// the number of steps this run has taken and the model.
var afterStep func(step int, m *vae.Model)

// trainer is one training run.
type trainer struct {
	f           *trainFlags
	ckpt        string
	m           *vae.Model
	cfg         vae.Config
	st          trainState
	data        *dataset.Data
	train, test *dataset.Set
	x           []float32 // a batch, converted from the data set
	shuffle     *rand.ChaCha8
	dataRNG     *rand.ChaCha8 // nil unless binarizing
	prog        *progress
	stdout      io.Writer
	names       []string
	saved       bool // a checkpoint has been written by this run
}

func train(ctx context.Context, f *trainFlags, set map[string]bool, stdout, stderr io.Writer) error {
	if err := checkTrainFlags(f); err != nil {
		return err
	}
	for _, fl := range []string{"no-cuda", "no-accel"} {
		if set[fl] {
			fmt.Fprintf(stderr, "fastvae: note: --%s ignored: fastvae runs on the CPU\n", fl)
		}
	}
	restore, err := f.cpuFlags.apply(stderr)
	if err != nil {
		return err
	}
	defer restore()

	t := &trainer{f: f, stdout: stdout}
	if f.resume != "" {
		if err := t.resumeFrom(f, set); err != nil {
			return err
		}
	}
	if err := t.loadData(f); err != nil {
		return err
	}
	defer lowerGCPercent()()
	if t.m == nil {
		if err := t.newModel(f); err != nil {
			return err
		}
	} else {
		if err := checkInput(t.train, t.cfg.Input, "checkpoint "+f.resume); err != nil {
			return err
		}
		if t.train.Len() != t.st.TrainImages {
			return fmt.Errorf("%s: %d %s for training, but checkpoint %s was trained on %d", t.train.Source, t.train.Len(), noun(t.train), f.resume, t.st.TrainImages)
		}
	}
	if z := t.st.Normalize; z != nil {
		if err := z.Check(t.train.Dim()); err != nil {
			return fmt.Errorf("checkpoint %s: %w", f.resume, err)
		}
		t.train.Standardize(z)
		t.test.Standardize(z)
	}
	if t.st.Binarize {
		r := binarizeFixed(t.st.Seed, t.test)
		if t.st.DataRNG != nil {
			if err := r.UnmarshalBinary(t.st.DataRNG); err != nil {
				return fmt.Errorf("checkpoint %s: binarisation generator: %w", f.resume, err)
			}
		}
		t.dataRNG = r
	}
	t.ckpt = f.checkpoint
	if t.ckpt == "" {
		t.ckpt = filepath.Join(t.st.Out, "checkpoint.safetensors")
	}
	for _, dir := range []string{t.st.Out, filepath.Dir(t.ckpt)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create output directory: %w", err)
		}
	}
	t.names = classNames(t.test, t.st.Data)
	t.prog = newProgress(f.progress, stdout, stderr)
	t.m.Reserve(t.st.BatchSize)
	t.x = make([]float32, t.st.BatchSize*t.cfg.Input)

	held := ""
	if d := t.data; d.Held > 0 {
		held = fmt.Sprintf(" (%d of its %d held out for testing, seed %d)", d.Held, d.Examples, t.st.Seed)
	} else if t.st.TestData != "" {
		held = " (test set from " + t.st.TestData + ")"
	}
	fmt.Fprintf(stdout, "fastvae: kernels %s, %d threads; model %s, batch %d, lr %g, seed %d; %d training and %d test %s of %s from %s%s\n",
		kernels.Impl(), kernels.Threads(), t.cfg, t.st.BatchSize, t.m.Optimizer().LR, t.st.Seed, t.train.Len(), t.test.Len(), noun(t.train), t.train.Describe(), t.st.Data, held)
	if f.resume != "" {
		fmt.Fprintf(stdout, "fastvae: resuming from %s after epoch %d, batch %d\n", f.resume, t.st.Epoch, t.st.Batch)
	}
	if t.st.Epoch >= t.st.Epochs {
		fmt.Fprintf(stdout, "fastvae: checkpoint %s has trained %d epochs already (--epochs %d): nothing to do\n", f.resume, t.st.Epoch, t.st.Epochs)
		return nil
	}
	return t.run(ctx)
}

func checkTrainFlags(f *trainFlags) error {
	for _, c := range []struct {
		name   string
		v, min int
	}{{"batch-size", f.batchSize, 1}, {"epochs", f.epochs, 1}, {"log-interval", f.logInterval, 1}, {"latent", f.latent, 1}} {
		if err := atLeast(c.name, c.v, c.min); err != nil {
			return err
		}
	}
	if err := positiveFinite("lr", f.lr); err != nil {
		return err
	}
	if err := positiveFinite("sigma", f.sigma); err != nil {
		return err
	}
	if !(f.beta >= 0) || math.IsInf(f.beta, 0) {
		return usagef("--beta %v: must be a non-negative finite number", f.beta)
	}
	if _, err := parseHidden(f.hidden); err != nil {
		return err
	}
	dec, err := vae.ParseDecoder(f.decoder)
	if err != nil {
		return usagef("--decoder %q: want bernoulli or gaussian", f.decoder)
	}
	if err := f.dataFlags.check(true); err != nil {
		return err
	}
	if f.normalize && f.binarize {
		return usagef("--normalize and --binarize: standardised values are not probabilities to binarise")
	}
	if f.normalize && dec == vae.Bernoulli && f.resume == "" {
		return usagef("--normalize: standardised values lie outside [0, 1], which the bernoulli decoder needs: add --decoder gaussian")
	}
	return checkMode("progress", f.progress, "auto", "on", "off")
}

// lowerGCPercent makes the collector run when the heap has grown by a
// quarter since the last collection, not doubled (unless GOGC says
// otherwise): the data set is most of the live heap and is never garbage,
// so doubling it buys nothing, while a collection an epoch costs a few
// milliseconds. The returned function restores the setting.
func lowerGCPercent() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(25)
	return func() { debug.SetGCPercent(prev) }
}

// newModel builds a fresh model from the flags.
func (t *trainer) newModel(f *trainFlags) error {
	hidden, _ := parseHidden(f.hidden)
	dec, _ := vae.ParseDecoder(f.decoder)
	t.cfg = vae.Config{Input: t.train.Dim(), Hidden: hidden, Latent: f.latent, Decoder: dec, Sigma: f.sigma, Beta: f.beta}
	m, err := vae.New(t.cfg, f.seed)
	if err != nil {
		return usagef("%v", err)
	}
	m.Optimizer().LR = float32(f.lr)
	t.m = m
	shuffle := nn.NewSource(f.seed, nn.StreamShuffle)
	state, _ := shuffle.MarshalBinary()
	t.shuffle = shuffle
	t.st = trainState{
		Seed: f.seed, BatchSize: f.batchSize, Binarize: f.binarize, Epochs: f.epochs, LogInterval: f.logInterval,
		Out: f.out, TrainImages: t.train.Len(), Shuffle: state, dataState: t.st.dataState,
	}
	if rows, cols, _, ok := t.train.Image(); ok {
		t.st.Rows, t.st.Cols = rows, cols
	}
	if f.normalize {
		t.st.Normalize = t.train.Standardization() // from the training part only
	}
	return nil
}

// loadData reads the training and test sets: for a new run as the flags
// say, for a resumed one as the checkpoint records (with the paths the
// flags may have moved). It sets the data part of the state.
func (t *trainer) loadData(f *trainFlags) error {
	if f.resume == "" {
		t.st.dataState = dataState{Data: f.data, TestData: f.testData, TestSplit: f.testSplit,
			NPZKeys: f.npzKeys, Header: f.header, LabelColumn: f.labelColumn}
	}
	ds := &t.st.dataState
	seed := f.seed
	if f.resume != "" {
		seed = t.st.Seed
	}
	dec, _ := vae.ParseDecoder(f.decoder)
	binarize := f.binarize
	if t.m != nil {
		dec, binarize = t.cfg.Decoder, t.st.Binarize
	}
	unit, why := needsUnit(dec, binarize)
	if t.st.Normalize != nil {
		unit = false // the model sees standardised values
	}
	d, err := loadData(ds.source(seed, unit), why)
	if err != nil {
		return err
	}
	if d.Test == nil {
		return fmt.Errorf("%s: no test set", ds.Data) // TestSplit is positive for a new run
	}
	if f.resume != "" && ds.TestSplit > 0 && d.Examples != ds.Examples {
		return fmt.Errorf("%s: %d examples, but checkpoint %s held out %d of the %d it was trained on: give the same data",
			ds.Data, d.Examples, f.resume, ds.Examples-t.st.TrainImages, ds.Examples)
	}
	if d.Held == 0 {
		ds.TestSplit = 0 // the data had a test part: nothing to record
	}
	ds.Examples, ds.Shape, ds.Columns = d.Examples, d.Train.Shape, d.Train.Columns
	ds.Classes = d.Train.Classes
	t.data, t.train, t.test = d, d.Train, d.Test
	return nil
}

// resumeFrom loads the checkpoint of --resume and checks the flags given
// explicitly against it; the others take the checkpoint's values.
func (t *trainer) resumeFrom(f *trainFlags, set map[string]bool) error {
	m, meta, err := vae.Load(f.resume)
	if err != nil {
		return err
	}
	raw, ok := meta[metaKey]
	if !ok {
		return fmt.Errorf("checkpoint %s holds no training state (it was not written by fastvae train): it cannot be resumed", f.resume)
	}
	if err := json.Unmarshal([]byte(raw), &t.st); err != nil || len(t.st.Shuffle) == 0 || t.st.BatchSize < 1 {
		return fmt.Errorf("checkpoint %s: corrupt training state", f.resume)
	}
	t.m, t.cfg = m, m.Config()
	t.shuffle = &rand.ChaCha8{}
	if err := t.shuffle.UnmarshalBinary(t.st.Shuffle); err != nil {
		return fmt.Errorf("checkpoint %s: shuffling generator: %w", f.resume, err)
	}
	hidden, _ := parseHidden(f.hidden)
	dec, _ := vae.ParseDecoder(f.decoder)
	checks := []struct {
		flag         string
		given, saved any
		differ       bool
	}{
		{"latent", f.latent, t.cfg.Latent, f.latent != t.cfg.Latent},
		{"hidden", f.hidden, joinInts(t.cfg.Hidden), !slices.Equal(hidden, t.cfg.Hidden)},
		{"decoder", f.decoder, t.cfg.Decoder, dec != t.cfg.Decoder},
		{"sigma", f.sigma, t.cfg.Sigma, f.sigma != t.cfg.Sigma},
		{"beta", f.beta, t.cfg.Beta, f.beta != t.cfg.Beta},
		{"seed", f.seed, t.st.Seed, f.seed != t.st.Seed},
		{"batch-size", f.batchSize, t.st.BatchSize, f.batchSize != t.st.BatchSize},
		{"binarize", f.binarize, t.st.Binarize, f.binarize != t.st.Binarize},
		{"lr", f.lr, m.Optimizer().LR, float32(f.lr) != m.Optimizer().LR},
		{"normalize", f.normalize, t.st.Normalize != nil, f.normalize != (t.st.Normalize != nil)},
		{"npz-keys", f.npzKeys, t.st.NPZKeys, f.npzKeys != t.st.NPZKeys},
		{"header", f.header, t.st.Header, f.header != t.st.Header},
		{"label-column", f.labelColumn, t.st.LabelColumn, f.labelColumn != t.st.LabelColumn},
		{"test-split", f.testSplit, t.st.TestSplit, t.st.TestSplit > 0 && f.testSplit != t.st.TestSplit},
	}
	for _, c := range checks {
		if set[c.flag] && c.differ {
			return mismatch(f.resume, c.flag, c.given, c.saved)
		}
	}
	// Where the run goes and for how long may change; otherwise as saved.
	if set["epochs"] {
		t.st.Epochs = f.epochs
	}
	if set["log-interval"] {
		t.st.LogInterval = f.logInterval
	}
	if set["data"] {
		t.st.Data = f.data
	}
	if set["test-data"] {
		if t.st.TestData == "" {
			return fmt.Errorf("--test-data: checkpoint %s was tested on %s; its test set cannot change", f.resume, t.testPart())
		}
		t.st.TestData = f.testData
	}
	if set["out"] {
		t.st.Out = f.out
	}
	return nil
}

// run trains until the last epoch, a signal or a non-finite loss.
func (t *trainer) run(ctx context.Context) error {
	st, m, D := &t.st, t.m, t.cfg.Input
	n, bs := t.train.Len(), st.BatchSize
	nb := (n + bs - 1) / bs
	x := t.x
	steps := 0
	for st.Epoch < st.Epochs {
		e := st.Epoch + 1
		if err := t.shuffle.UnmarshalBinary(st.Shuffle); err != nil {
			return err
		}
		perm := rand.New(t.shuffle).Perm(n)
		t.prog.begin(fmt.Sprintf("epoch %d/%d", e, st.Epochs), "loss", min(st.Batch*bs, n), n)
		start, startCPU, startBatch := time.Now(), cputime.Process(), st.Batch
		for b := st.Batch; b < nb; b++ {
			lo, hi := b*bs, min((b+1)*bs, n)
			rows := hi - lo
			xb := x[:rows*D]
			t.train.Gather(xb, perm[lo:hi])
			if t.dataRNG != nil {
				dataset.Binarize(xb, xb, t.dataRNG)
			}
			s := m.TrainStep(xb)
			if math.IsNaN(s.Loss) || math.IsInf(s.Loss, 0) {
				return t.nonFinite(fmt.Sprintf("epoch %d, batch %d of %d (step %d)", e, b+1, nb, m.Optimizer().Steps), "training", s.Loss)
			}
			st.Partial.Add(s)
			st.Batch = b + 1
			steps++
			if b%st.LogInterval == 0 {
				t.prog.logf("Train Epoch: %d [%d/%d (%.0f%%)]\tLoss: %.6f", e, b*rows, n, 100*float64(b)/float64(nb), s.Loss/float64(rows))
			}
			t.prog.update(hi, s.Loss/float64(rows))
			if afterStep != nil {
				afterStep(steps, m)
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

		testStart := time.Now()
		ts := evalSet(m, t.test, x, bs)
		testTime := time.Since(testStart)
		testLoss := ts.Loss / float64(ts.N)
		if math.IsNaN(testLoss) || math.IsInf(testLoss, 0) {
			return t.nonFinite(fmt.Sprintf("epoch %d", e), "test", testLoss)
		}
		t.prog.logf("====> Test set loss: %.4f", testLoss)

		trainLoss, trainRecon, trainKL := st.Partial.PerExample()
		_, testRecon, testKL := ts.PerExample()
		st.History = append(st.History, epochRecord{Epoch: e, TrainLoss: trainLoss, TestLoss: testLoss})
		if err := t.pictures(e); err != nil {
			return err
		}
		if err := t.appendMetrics(map[string]any{
			"epoch": e, "steps": m.Optimizer().Steps,
			"train_loss": trainLoss, "train_recon": trainRecon, "train_kl": trainKL,
			"test_loss": testLoss, "test_recon": testRecon, "test_kl": testKL,
			"train_seconds": trainTime.Seconds(), "train_images": images, "images_per_second": float64(images) / trainTime.Seconds(),
			"train_cpu_seconds": trainCPU.Seconds(), "test_seconds": testTime.Seconds(), "threads": kernels.Threads(), "kernels": kernels.Impl(),
			"model": t.cfg.String(), "batch_size": bs, "seed": st.Seed, "time": time.Now().UTC().Format(time.RFC3339),
		}); err != nil {
			return err
		}
		st.Epoch, st.Batch, st.Partial = e, 0, vae.Stats{}
		st.Shuffle, _ = t.shuffle.MarshalBinary()
		if err := t.save(); err != nil {
			return err
		}
		if st.Epoch < st.Epochs && ctx.Err() != nil {
			return t.stop(ctx, fmt.Sprintf("at the end of epoch %d", e))
		}
	}
	return nil
}

// testPart says where the test set of the state's data comes from.
func (t *trainer) testPart() string {
	if t.st.TestSplit > 0 {
		return fmt.Sprintf("%g of %s, held out", t.st.TestSplit, t.st.Data)
	}
	return "the test part of " + t.st.Data
}

// save writes the checkpoint (atomically: see vae.Model.Save).
func (t *trainer) save() error {
	if t.dataRNG != nil {
		t.st.DataRNG, _ = t.dataRNG.MarshalBinary()
	}
	meta, err := json.Marshal(&t.st)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", t.ckpt, err)
	}
	if err := t.m.Save(t.ckpt, map[string]string{metaKey: string(meta)}); err != nil {
		return err
	}
	t.saved = true
	return nil
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

func (t *trainer) appendMetrics(rec map[string]any) error {
	path := filepath.Join(t.st.Out, "metrics.jsonl")
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = fh.Write(append(line, '\n'))
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
