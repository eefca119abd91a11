package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"

	"github.com/fastvae/fastvae/dataset"
	"github.com/fastvae/fastvae/kernels"
	"github.com/fastvae/fastvae/nn"
	"github.com/fastvae/fastvae/vae"
)

type trainFlags struct {
	batchSize, epochs, logInterval, latent int
	klWarmup, lrStep, patience, finalNLL   int
	seed                                   uint64
	lr, sigma, beta, lrGamma, valSplit     float64
	out, hidden, decoder, lrSchedule       string
	checkpoint, resume, progress           string
	binarize, normalize, noCUDA, noAccel   bool
	keepBest, conditional                  bool
	dataFlags
	cpuFlags
}

// resumeAuto is the --resume value that resumes from the checkpoint when
// there is one and starts afresh otherwise.
const resumeAuto = "auto"

func setupTrain(fs *flag.FlagSet) action {
	f := &trainFlags{}
	fs.IntVar(&f.batchSize, "batch-size", 128, "input batch size for training")
	fs.IntVar(&f.epochs, "epochs", 10, "number of epochs to train, in all (a resumed run counts the epochs already done)")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed (initial weights, shuffling, noise, splits)")
	fs.IntVar(&f.logInterval, "log-interval", 10, "how many batches to wait before logging training status")
	fs.Float64Var(&f.lr, "lr", 1e-3, "Adam learning rate (the base rate of --lr-schedule)")
	fs.BoolVar(&f.noCUDA, "no-cuda", false, "accepted for compatibility with the PyTorch example; fastvae runs on the CPU")
	fs.BoolVar(&f.noAccel, "no-accel", false, "accepted for compatibility with the PyTorch example; fastvae runs on the CPU")
	f.dataFlags.register(fs, true)
	fs.Float64Var(&f.valSplit, "val-split", 0, "fraction of the training examples held out (drawn with --seed) as a validation set, evaluated after every epoch")
	fs.BoolVar(&f.normalize, "normalize", false, "standardise each value (mean 0, std 1 over the training examples; needs --decoder gaussian)")
	fs.StringVar(&f.out, "out", "results", "`directory` for pictures, metrics.jsonl and the checkpoint")
	fs.IntVar(&f.latent, "latent", 20, "latent dimensions")
	fs.StringVar(&f.hidden, "hidden", "400", "hidden layer `widths`, a comma list for deeper nets (512,256)")
	fs.StringVar(&f.decoder, "decoder", "bernoulli", "decoder distribution: bernoulli or gaussian")
	fs.Float64Var(&f.sigma, "sigma", 1, "standard deviation of the gaussian decoder")
	fs.Float64Var(&f.beta, "beta", 1, "weight of the KL term (beta-VAE)")
	fs.BoolVar(&f.conditional, "conditional", false, "train a conditional VAE (Sohn et al.): the one-hot label joins the encoder's input and z; needs labels")
	fs.IntVar(&f.klWarmup, "kl-warmup", 0, "`epochs` over which the KL weight rises linearly, step by step, from 0 to --beta (Sønderby et al.; 0: none)")
	fs.StringVar(&f.lrSchedule, "lr-schedule", "constant", "learning rate per epoch: constant, step (times --lr-gamma every --lr-step epochs, as PyTorch's StepLR) or cosine (to 0 over --epochs, as CosineAnnealingLR)")
	fs.IntVar(&f.lrStep, "lr-step", 0, "--lr-schedule step: `epochs` between multiplications by --lr-gamma")
	fs.Float64Var(&f.lrGamma, "lr-gamma", 0.1, "--lr-schedule step: the factor")
	fs.BoolVar(&f.keepBest, "keep-best", false, "write OUT/best.safetensors whenever the validation loss improves (needs --val-split)")
	fs.IntVar(&f.patience, "patience", 0, "stop after `N` epochs without improvement of the validation loss (needs --val-split; 0: never)")
	fs.IntVar(&f.finalNLL, "final-nll", 0, "after the last epoch, estimate the test set's −log p(x) by importance sampling with `K` samples (0: no)")
	fs.BoolVar(&f.binarize, "binarize", false, "binarize inputs dynamically (pixel p becomes 1 with probability p, afresh each epoch; the test set once)")
	f.cpuFlags.register(fs)
	fs.StringVar(&f.checkpoint, "checkpoint", "", "`path` of the checkpoint written after every epoch (default OUT/checkpoint.safetensors)")
	fs.StringVar(&f.resume, "resume", "", "continue training from the checkpoint at `path`; auto: from --checkpoint when it exists, else afresh (for jobs restarted after preemption)")
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

	// The learning rate: LR in every epoch, or as LRSchedule ("step" or
	// "cosine") makes it of LR; the rate of an epoch depends on its
	// number alone (nn.LRSchedule). Checkpoints before LR have the rate in
	// Adam's state only.
	LR         float64 `json:"lr,omitempty"`
	LRSchedule string  `json:"lr_schedule,omitempty"`
	LRStep     int     `json:"lr_step,omitempty"`
	LRGamma    float64 `json:"lr_gamma,omitempty"`
	// KLWarmup is the number of epochs over which the KL weight rises
	// from 0 to the model's Beta. Its position is the step, which Epoch
	// and Batch give.
	KLWarmup int `json:"kl_warmup,omitempty"`

	// With a validation set (ValidSplit): the best validation loss and its
	// epoch (0 before the first), the epochs since it, and what to do about
	// it.
	BestLoss  float64 `json:"best_valid_loss,omitempty"`
	BestEpoch int     `json:"best_epoch,omitempty"`
	SinceBest int     `json:"since_best,omitempty"`
	KeepBest  bool    `json:"keep_best,omitempty"`
	Patience  int     `json:"patience,omitempty"`

	// FinalNLL is the number of importance samples of the test NLL
	// estimated after the last epoch (0: none), NLL how far that is.
	FinalNLL int       `json:"final_nll,omitempty"`
	NLL      *nllState `json:"nll,omitempty"`

	History []epochRecord `json:"history"`
}

type epochRecord struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	TestLoss  float64 `json:"test_loss"`
}

// nllState is the progress of the importance-sampled test NLL after
// epoch Epoch: the summed scores of the first Done test examples, in data
// order, so that an interrupted estimate continues to the same bits.
type nllState struct {
	Epoch    int     `json:"epoch"`
	K        int     `json:"k"`
	Done     int     `json:"done"`
	NLL      float64 `json:"nll_sum"`
	ELBO     float64 `json:"elbo_sum"`
	Finished bool    `json:"finished,omitempty"`
}

const metaKey = "train"

// afterStep, when set (by tests), is called after every training step with
// the number of steps this run has taken and the model.
var afterStep func(step int, m *vae.Model)

// trainer is one training run.
type trainer struct {
	f                  *trainFlags
	ckpt               string
	m                  *vae.Model
	cfg                vae.Config
	st                 trainState
	data               *dataset.Data
	train, test, valid *dataset.Set // valid is nil without --val-split
	x                  []float32    // a batch, converted from the data set
	labels             []int        // its labels, for a conditional model
	shuffle            *rand.ChaCha8
	dataRNG            *rand.ChaCha8 // nil unless binarizing
	prog               *progress
	stdout             io.Writer
	names              []string
	saved              bool // a checkpoint has been written by this run
}

func train(ctx context.Context, f *trainFlags, set map[string]bool, stdout, stderr io.Writer) error {
	if err := checkTrainFlags(f, set); err != nil {
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
	if f.resume == resumeAuto {
		if f.resume, err = autoResume(f, stdout); err != nil {
			return err
		}
	}

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
	for _, s := range t.parts() {
		if err := checkLabels(s, t.cfg.Classes, "the conditional model"); err != nil {
			return err
		}
	}
	if z := t.st.Normalize; z != nil {
		if err := z.Check(t.train.Dim()); err != nil {
			return fmt.Errorf("checkpoint %s: %w", f.resume, err)
		}
		for _, s := range t.parts() {
			s.Standardize(z)
		}
	}
	if t.st.Binarize {
		r := binarizeFixed(t.st.Seed, t.test, t.valid)
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
	t.removeTemporaries()
	if err := t.trimMetrics(f.resume == ""); err != nil {
		return err
	}
	t.names = classNames(t.test, t.st.Data)
	if t.cfg.Classes > 0 && t.m.ClassNames() == nil && len(t.names) == t.cfg.Classes {
		if err := t.m.SetClassNames(t.names); err != nil {
			return err
		}
	}
	t.prog = newProgress(f.progress, stdout, stderr)
	t.m.Reserve(t.st.BatchSize)
	t.x = make([]float32, t.st.BatchSize*t.cfg.Input)
	if t.cfg.Classes > 0 {
		t.labels = make([]int, t.st.BatchSize)
	}

	fmt.Fprintln(stdout, t.describe())
	if f.resume != "" {
		fmt.Fprintf(stdout, "fastvae: resuming from %s after epoch %d, batch %d\n", f.resume, t.st.Epoch, t.st.Batch)
	}
	if t.trained() && !t.nllPending() {
		why := fmt.Sprintf("has trained %d epochs already (--epochs %d)", t.st.Epoch, t.st.Epochs)
		if t.stoppedEarly() {
			why = fmt.Sprintf("stopped early after epoch %d (the validation loss had not improved for %s)", t.st.Epoch, count(t.st.SinceBest, "epoch"))
		}
		fmt.Fprintf(stdout, "fastvae: checkpoint %s %s: nothing to do\n", f.resume, why)
		return nil
	}
	return t.run(ctx)
}

// autoResume returns the checkpoint --resume auto continues from: that of
// --checkpoint (or OUT/checkpoint.safetensors) when it exists, else ""
// (a fresh run).
func autoResume(f *trainFlags, stdout io.Writer) (string, error) {
	path := f.checkpoint
	if path == "" {
		path = filepath.Join(f.out, "checkpoint.safetensors")
	}
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return path, nil
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stdout, "fastvae: no checkpoint %s yet: starting afresh\n", path)
		return "", nil
	}
	return "", fmt.Errorf("--resume auto: %w", err)
}

// parts returns the data sets of the run: training, test and, with
// --val-split, validation.
func (t *trainer) parts() []*dataset.Set {
	if t.valid == nil {
		return []*dataset.Set{t.train, t.test}
	}
	return []*dataset.Set{t.train, t.test, t.valid}
}

// describe is the first line of the log: the kernels, the model and how
// it trains, and the data.
func (t *trainer) describe() string {
	st := &t.st
	lr := fmt.Sprintf("lr %g", float32(st.LR))
	switch st.LRSchedule {
	case "step":
		lr += fmt.Sprintf(" (×%g every %s)", st.LRGamma, count(st.LRStep, "epoch"))
	case "cosine":
		lr += fmt.Sprintf(" (cosine to 0 over %s)", count(st.Epochs, "epoch"))
	}
	if st.KLWarmup > 0 {
		lr += fmt.Sprintf(", KL warm-up %s", count(st.KLWarmup, "epoch"))
	}
	parts := fmt.Sprintf("%d training and %d test", t.train.Len(), t.test.Len())
	if t.valid != nil {
		parts = fmt.Sprintf("%d training, %d validation and %d test", t.train.Len(), t.valid.Len(), t.test.Len())
	}
	held := ""
	if d := t.data; d.Held > 0 {
		held = fmt.Sprintf(" (%d of its %d held out for testing, seed %d)", d.Held, d.Examples, st.Seed)
	} else if st.TestData != "" {
		held = " (test set from " + st.TestData + ")"
	}
	return fmt.Sprintf("fastvae: kernels %s, %d threads; model %s, batch %d, %s, seed %d; %s %s of %s from %s%s",
		kernels.Impl(), kernels.Threads(), t.cfg, st.BatchSize, lr, st.Seed, parts, noun(t.train), t.train.Describe(), st.Data, held)
}

func checkTrainFlags(f *trainFlags, set map[string]bool) error {
	for _, c := range []struct {
		name   string
		v, min int
	}{
		{"batch-size", f.batchSize, 1}, {"epochs", f.epochs, 1}, {"log-interval", f.logInterval, 1}, {"latent", f.latent, 1},
		{"kl-warmup", f.klWarmup, 0}, {"patience", f.patience, 0}, {"final-nll", f.finalNLL, 0},
	} {
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
	// A run that may start afresh (--resume auto among them) takes its
	// configuration from the flags alone.
	fresh := f.resume == "" || f.resume == resumeAuto
	if f.normalize && dec == vae.Bernoulli && fresh {
		return usagef("--normalize: standardised values lie outside [0, 1], which the bernoulli decoder needs: add --decoder gaussian")
	}
	if err := checkSchedule(f, set); err != nil {
		return err
	}
	if set["val-split"] && !(f.valSplit > 0 && f.valSplit < 1) {
		return usagef("--val-split %v: want a fraction between 0 and 1", f.valSplit)
	}
	for _, fl := range []string{"keep-best", "patience"} {
		if set[fl] && f.valSplit == 0 && fresh {
			return usagef("--%s needs --val-split F: it watches the validation loss", fl)
		}
	}
	return checkMode("progress", f.progress, "auto", "on", "off")
}

// checkSchedule checks --lr-schedule and the flags that go with it.
func checkSchedule(f *trainFlags, set map[string]bool) error {
	kind, err := nn.ParseLRKind(f.lrSchedule)
	if err != nil {
		return usagef("--lr-schedule %q: want constant, step or cosine", f.lrSchedule)
	}
	for _, fl := range []string{"lr-step", "lr-gamma"} {
		if set[fl] && kind != nn.StepLR {
			return usagef("--%s goes with --lr-schedule step", fl)
		}
	}
	if kind == nn.StepLR {
		if err := atLeast("lr-step", f.lrStep, 1); err != nil {
			return err
		}
		if err := positiveFinite("lr-gamma", f.lrGamma); err != nil {
			return err
		}
	}
	return nil
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

// schedule returns the learning-rate schedule of the state.
func (st *trainState) schedule() nn.LRSchedule {
	kind, _ := nn.ParseLRKind(st.LRSchedule)
	if st.LRSchedule == "" {
		kind = nn.ConstantLR
	}
	return nn.LRSchedule{Kind: kind, Base: st.LR, StepSize: st.LRStep, Gamma: st.LRGamma, T: st.Epochs}
}

// scheduleName is what the state records of --lr-schedule: "" for the
// constant rate, so that such checkpoints stay as they were.
func scheduleName(s string) string {
	if s == nn.ConstantLR.String() {
		return ""
	}
	return s
}

// newModel builds a fresh model from the flags.
func (t *trainer) newModel(f *trainFlags) error {
	hidden, _ := parseHidden(f.hidden)
	dec, _ := vae.ParseDecoder(f.decoder)
	t.cfg = vae.Config{Input: t.train.Dim(), Hidden: hidden, Latent: f.latent, Decoder: dec, Sigma: f.sigma, Beta: f.beta}
	if f.conditional {
		c, err := classCount(t.parts()...)
		if err != nil {
			return err
		}
		t.cfg.Classes = c
	}
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
		LR: f.lr, LRSchedule: scheduleName(f.lrSchedule), KLWarmup: f.klWarmup,
		KeepBest: f.keepBest, Patience: f.patience, FinalNLL: f.finalNLL,
	}
	if t.st.LRSchedule == "step" {
		t.st.LRStep, t.st.LRGamma = f.lrStep, f.lrGamma
	}
	if rows, cols, _, ok := t.train.Image(); ok {
		t.st.Rows, t.st.Cols = rows, cols
	}
	if f.normalize {
		t.st.Normalize = t.train.Standardization() // from the training part only
	}
	return nil
}

// loadData reads the training, test and validation sets: for a new run as
// the flags say, for a resumed one as the checkpoint records (with the
// paths the flags may have moved). It sets the data part of the state.
func (t *trainer) loadData(f *trainFlags) error {
	if f.resume == "" {
		t.st.dataState = dataState{Data: f.data, TestData: f.testData, TestSplit: f.testSplit, ValidSplit: f.valSplit,
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
	if f.resume != "" && (ds.TestSplit > 0 || ds.ValidSplit > 0) && d.Examples != ds.Examples {
		return fmt.Errorf("%s: %d examples, but checkpoint %s held out %d of the %d it was trained on: give the same data",
			ds.Data, d.Examples, f.resume, ds.Examples-t.st.TrainImages, ds.Examples)
	}
	if d.Held == 0 {
		ds.TestSplit = 0 // the data had a test part: nothing to record
	}
	ds.Examples, ds.Shape, ds.Columns = d.Examples, d.Train.Shape, d.Train.Columns
	ds.Classes = d.Train.Classes
	t.data, t.train, t.test, t.valid = d, d.Train, d.Test, d.Valid
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
	st := &t.st
	if st.LR == 0 {
		st.LR = float64(m.Optimizer().LR) // written before the state kept it
	}
	if err := st.schedule().Validate(); err != nil {
		return fmt.Errorf("checkpoint %s: corrupt training state: %w", f.resume, err)
	}
	t.shuffle = &rand.ChaCha8{}
	if err := t.shuffle.UnmarshalBinary(st.Shuffle); err != nil {
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
		{"conditional", f.conditional, t.cfg.Classes > 0, f.conditional != (t.cfg.Classes > 0)},
		{"seed", f.seed, st.Seed, f.seed != st.Seed},
		{"batch-size", f.batchSize, st.BatchSize, f.batchSize != st.BatchSize},
		{"binarize", f.binarize, st.Binarize, f.binarize != st.Binarize},
		{"lr", f.lr, st.LR, float32(f.lr) != float32(st.LR)},
		{"lr-schedule", f.lrSchedule, st.schedule().Kind, scheduleName(f.lrSchedule) != st.LRSchedule},
		{"lr-step", f.lrStep, st.LRStep, f.lrStep != st.LRStep},
		{"lr-gamma", f.lrGamma, st.LRGamma, f.lrGamma != st.LRGamma},
		{"kl-warmup", f.klWarmup, st.KLWarmup, f.klWarmup != st.KLWarmup},
		{"normalize", f.normalize, st.Normalize != nil, f.normalize != (st.Normalize != nil)},
		{"npz-keys", f.npzKeys, st.NPZKeys, f.npzKeys != st.NPZKeys},
		{"header", f.header, st.Header, f.header != st.Header},
		{"label-column", f.labelColumn, st.LabelColumn, f.labelColumn != st.LabelColumn},
		{"test-split", f.testSplit, st.TestSplit, st.TestSplit > 0 && f.testSplit != st.TestSplit},
		{"val-split", f.valSplit, st.ValidSplit, f.valSplit != st.ValidSplit},
	}
	for _, c := range checks {
		if set[c.flag] && c.differ {
			return mismatch(f.resume, c.flag, c.given, c.saved)
		}
	}
	for _, fl := range []string{"keep-best", "patience"} {
		if set[fl] && st.ValidSplit == 0 {
			return fmt.Errorf("--%s: checkpoint %s was trained without --val-split, so there is no validation loss to watch", fl, f.resume)
		}
	}
	// Where the run goes, for how long, and what it does after the
	// training steps (which they leave alone) may change; otherwise as
	// saved.
	if set["epochs"] {
		st.Epochs = f.epochs
	}
	if set["log-interval"] {
		st.LogInterval = f.logInterval
	}
	if set["keep-best"] {
		st.KeepBest = f.keepBest
	}
	if set["patience"] {
		st.Patience = f.patience
	}
	if set["final-nll"] {
		st.FinalNLL = f.finalNLL
	}
	if set["data"] {
		st.Data = f.data
	}
	if set["test-data"] {
		if st.TestData == "" {
			return fmt.Errorf("--test-data: checkpoint %s was tested on %s; its test set cannot change", f.resume, t.testPart())
		}
		st.TestData = f.testData
	}
	if set["out"] {
		st.Out = f.out
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
