package vae

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fastvae/fastvae/internal/atomicfile"
)

// Checkpoint layout. Tensors: every parameter under its PyTorch name (see
// the package documentation), the Adam moments as
// "optim.<name>.exp_avg" and "optim.<name>.exp_avg_sq", and the Adam step
// count as the I64 scalar "optim.step". Metadata: "format": "pt" (what
// PyTorch's safetensors writer records), the keys below, and the caller's.
const (
	metaVersion = "fastvae.version" // checkpoint layout version, "1"
	metaConfig  = "fastvae.config"  // Config as JSON
	metaOptim   = "fastvae.optim"   // Adam hyperparameters as JSON
	metaRNGEps  = "fastvae.rng.eps" // base64 ChaCha8 state of the training ε stream
	metaRNGEval = "fastvae.rng.eval"
	// metaBeta is the KL weight in effect (shortest decimal that parses back
	// to it), present only when it differs from the configuration's Beta,
	// as during a KL warm-up.
	metaBeta = "fastvae.beta"
	// metaClassNames holds a conditional model's class names, a JSON array
	// of strings, when it has them.
	metaClassNames = "fastvae.class_names"

	optimPrefix = "optim."
	optimStep   = "optim.step"
)

// adamHyper is the JSON of metaOptim.
type adamHyper struct {
	LR    float32 `json:"lr"`
	Beta1 float32 `json:"beta1"`
	Beta2 float32 `json:"beta2"`
	Eps   float32 `json:"eps"`
}

// reservedMeta reports whether a metadata key belongs to fastvae rather
// than to the caller.
func reservedMeta(k string) bool { return k == "format" || strings.HasPrefix(k, "fastvae.") }

// Save writes the model to path as a safetensors checkpoint holding the
// parameters, the optimizer state, the configuration, the KL weight in
// effect, the class names and the positions of the random streams, so that
// Load resumes training exactly. meta adds the
// caller's string metadata (epoch, step, data position, the trainer's own
// generators…); its keys must not be "format" or start with "fastvae.", and
// keys and values must be valid UTF-8 (JSON strings): encode binary state,
// such as a generator's MarshalBinary, in base64.
//
// The write is atomic: the data go to a temporary file in the same
// directory, which is synced and then renamed over path, and the directory
// is synced; a crash leaves either the old file or the new one.
func (m *Model) Save(path string, meta map[string]string) error {
	var buf bytes.Buffer
	if err := m.writeCheckpoint(&buf, meta); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	return nil
}

func (m *Model) writeCheckpoint(w io.Writer, meta map[string]string) error {
	all := map[string]string{"format": "pt", metaVersion: "1"}
	for k, v := range meta {
		if reservedMeta(k) {
			return fmt.Errorf("metadata key %q is reserved for fastvae", k)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("metadata %q: not valid UTF-8 (encode binary values, e.g. in base64)", k)
		}
		all[k] = v
	}
	cfg, err := json.Marshal(m.cfg)
	if err != nil {
		return err
	}
	all[metaConfig] = string(cfg)
	o := m.opt
	hyper, err := json.Marshal(adamHyper{o.LR, o.Beta1, o.Beta2, o.Eps})
	if err != nil {
		return err
	}
	all[metaOptim] = string(hyper)
	if m.klWeight != m.cfg.Beta {
		all[metaBeta] = strconv.FormatFloat(m.klWeight, 'g', -1, 64)
	}
	if m.classNames != nil {
		names, err := json.Marshal(m.classNames)
		if err != nil {
			return err
		}
		all[metaClassNames] = string(names)
	}
	for k, src := range map[string]*rand.ChaCha8{metaRNGEps: m.epsSrc, metaRNGEval: m.evalSrc} {
		state, err := src.MarshalBinary()
		if err != nil {
			return err
		}
		all[k] = base64.StdEncoding.EncodeToString(state)
	}

	var ts []*stTensor
	for i, p := range m.params {
		ts = append(ts,
			&stTensor{p.Name, "F32", p.Shape, f32Bytes(p.Value)},
			&stTensor{optimPrefix + p.Name + ".exp_avg", "F32", p.Shape, f32Bytes(o.M[i])},
			&stTensor{optimPrefix + p.Name + ".exp_avg_sq", "F32", p.Shape, f32Bytes(o.V[i])})
	}
	ts = append(ts, &stTensor{optimStep, "I64", []int{}, binary.LittleEndian.AppendUint64(nil, uint64(o.Steps))})
	return writeSafetensors(w, all, ts)
}

// Load reads a checkpoint written by Save and returns the model, ready to
// continue training exactly where it was saved, and the caller's metadata.
// The file is validated in full (header, names, dtypes, shapes, offsets,
// configuration); errors name the file and the problem. A plain PyTorch
// state_dict has no fastvae configuration: load it with LoadWeights.
func Load(path string) (*Model, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load checkpoint: %w", err)
	}
	m, meta, err := decodeCheckpoint(b)
	if err != nil {
		return nil, nil, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	return m, meta, nil
}

func decodeCheckpoint(b []byte) (*Model, map[string]string, error) {
	f, err := parseSafetensors(b)
	if err != nil {
		return nil, nil, err
	}
	js, ok := f.meta[metaConfig]
	if !ok {
		return nil, nil, fmt.Errorf("no %s in the metadata: not a fastvae checkpoint (load a PyTorch state_dict with Model.LoadWeights)", metaConfig)
	}
	if v := f.meta[metaVersion]; v != "1" {
		return nil, nil, fmt.Errorf("%s=%q, this fastvae reads version 1", metaVersion, v)
	}
	var cfg Config
	if err := strictJSON(js, &cfg); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", metaConfig, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", metaConfig, err)
	}
	// Check every tensor against the configuration before allocating the
	// model, so a corrupt configuration cannot make us allocate much more
	// than the file holds.
	specs := cfg.paramSpecs()
	want := map[string][]int{optimStep: {}}
	for _, s := range specs {
		want[s.name] = s.shape
		want[optimPrefix+s.name+".exp_avg"] = s.shape
		want[optimPrefix+s.name+".exp_avg_sq"] = s.shape
	}
	if err := checkTensors(f, want, cfg, false); err != nil {
		return nil, nil, err
	}
	m, err := newModel(cfg)
	if err != nil {
		return nil, nil, err
	}
	o := m.opt
	for i, p := range m.params {
		readF32(p.Value, f.tensors[p.Name].data)
		readF32(o.M[i], f.tensors[optimPrefix+p.Name+".exp_avg"].data)
		readF32(o.V[i], f.tensors[optimPrefix+p.Name+".exp_avg_sq"].data)
	}
	steps := int64(binary.LittleEndian.Uint64(f.tensors[optimStep].data))
	if steps < 0 {
		return nil, nil, fmt.Errorf("tensor %q: %d is negative", optimStep, steps)
	}
	o.Steps = int(steps)
	var h adamHyper
	if err := strictJSON(f.meta[metaOptim], &h); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", metaOptim, err)
	}
	o.LR, o.Beta1, o.Beta2, o.Eps = h.LR, h.Beta1, h.Beta2, h.Eps
	var srcs [2]*rand.ChaCha8
	for i, k := range []string{metaRNGEps, metaRNGEval} {
		state, err := base64.StdEncoding.DecodeString(f.meta[k])
		if err != nil || len(state) == 0 {
			return nil, nil, fmt.Errorf("%s: missing, or not a base64 generator state", k)
		}
		srcs[i] = new(rand.ChaCha8)
		if err := srcs[i].UnmarshalBinary(state); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	m.setSources(srcs[0], srcs[1])
	if v, ok := f.meta[metaBeta]; ok {
		beta, err := strconv.ParseFloat(v, 64)
		if err != nil || !(beta >= 0) || math.IsInf(beta, 0) {
			return nil, nil, fmt.Errorf("%s=%q: not a non-negative finite number", metaBeta, v)
		}
		m.SetBeta(beta)
	}
	if v, ok := f.meta[metaClassNames]; ok {
		var names []string
		if err := strictJSON(v, &names); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", metaClassNames, err)
		}
		if names == nil {
			return nil, nil, fmt.Errorf("%s: not an array of strings", metaClassNames)
		}
		if err := m.SetClassNames(names); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", metaClassNames, err)
		}
	}
	meta := map[string]string{}
	for k, v := range f.meta {
		if !reservedMeta(k) {
			meta[k] = v
		}
	}
	return m, meta, nil
}

// LoadWeights replaces the model's parameters by those of the safetensors
// file at path: a fastvae checkpoint, or a PyTorch state_dict saved with
// safetensors (the default names are those of the PyTorch example). Every
// parameter must be present with dtype F32 and the model's shape; tensors
// under "optim." are ignored, any other tensor is an error. The optimizer
// state and the random streams are left as they are.
func (m *Model) LoadWeights(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("load weights: %w", err)
	}
	if err := m.decodeWeights(b); err != nil {
		return fmt.Errorf("load weights %s: %w", path, err)
	}
	return nil
}

func (m *Model) decodeWeights(b []byte) error {
	f, err := parseSafetensors(b)
	if err != nil {
		return err
	}
	want := map[string][]int{}
	for _, p := range m.params {
		want[p.Name] = p.Shape
	}
	if err := checkTensors(f, want, m.cfg, true); err != nil {
		return err
	}
	for _, p := range m.params {
		readF32(p.Value, f.tensors[p.Name].data)
	}
	return nil
}

// checkTensors reports the first tensor that is missing from f, has the
// wrong dtype or shape, or is not in want (except optimizer tensors when
// ignoreOptim).
func checkTensors(f *stFile, want map[string][]int, cfg Config, ignoreOptim bool) error {
	for _, name := range slices.Sorted(maps.Keys(want)) {
		t, ok := f.tensors[name]
		if !ok {
			return fmt.Errorf("tensor %q missing (model %s)", name, cfg)
		}
		dtype := "F32"
		if name == optimStep {
			dtype = "I64"
		}
		if t.dtype != dtype {
			return fmt.Errorf("tensor %q has dtype %s, want %s", name, t.dtype, dtype)
		}
		if !slices.Equal(t.shape, want[name]) {
			return fmt.Errorf("tensor %q has shape %v, model %s needs %v", name, t.shape, cfg, want[name])
		}
	}
	var extra []string
	for name := range f.tensors {
		if _, ok := want[name]; !ok && !(ignoreOptim && strings.HasPrefix(name, optimPrefix)) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return fmt.Errorf("unexpected tensor %q, not part of model %s", extra[0], cfg)
	}
	return nil
}

// strictJSON decodes s into v, rejecting unknown fields and trailing data.
func strictJSON(s string, v any) error {
	if s == "" {
		return errors.New("missing from the metadata")
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
