package vae

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/tiny.safetensors and the fuzz seed corpus")

// refTensor and refRead are a reference safetensors reader written from the
// format's description alone, independently of safetensors.go: length,
// JSON, then each tensor's bytes at its offsets.
type refTensor struct {
	Dtype   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
	data    []byte
}

func refRead(t *testing.T, b []byte) (hlen int, meta map[string]string, tensors map[string]*refTensor) {
	t.Helper()
	require.GreaterOrEqual(t, len(b), 8)
	hlen = int(binary.LittleEndian.Uint64(b[:8]))
	require.LessOrEqual(t, 8+hlen, len(b))
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b[8:8+hlen], &raw))
	tensors = map[string]*refTensor{}
	for k, v := range raw {
		if k == "__metadata__" {
			require.NoError(t, json.Unmarshal(v, &meta))
			continue
		}
		var rt refTensor
		require.NoError(t, json.Unmarshal(v, &rt))
		rt.data = b[8+hlen+rt.Offsets[0] : 8+hlen+rt.Offsets[1]]
		tensors[k] = &rt
	}
	return hlen, meta, tensors
}

func refF32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// trainedTiny returns a tiny model after a few steps, so that the optimizer
// state and the streams have moved.
func trainedTiny(t *testing.T, dec Decoder) (*Model, []float32) {
	cfg := tinyConfig(dec)
	m, err := New(cfg, 11)
	require.NoError(t, err)
	x := synthetic(8, 10, cfg.Input)
	m.TrainStep(x)
	m.TrainStep(x[:3*cfg.Input])
	m.Eval(x)
	return m, x
}

// TestCheckpointLayout reads a saved checkpoint with the reference reader.
func TestCheckpointLayout(t *testing.T) {
	m, _ := trainedTiny(t, Gaussian)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, m.Save(path, map[string]string{"epoch": "3", "step": "120"}))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	hlen, meta, tensors := refRead(t, b)

	assert.Zero(t, hlen%8, "header padded to 8 bytes")
	header := b[8 : 8+hlen]
	assert.Equal(t, byte('{'), header[0])
	trimmed := bytes.TrimRight(header, " ")
	assert.Equal(t, byte('}'), trimmed[len(trimmed)-1], "padding is spaces after the JSON")
	assert.Less(t, hlen-len(trimmed), 8)

	assert.Equal(t, "pt", meta["format"])
	assert.Equal(t, "3", meta["epoch"])
	assert.Equal(t, "120", meta["step"])
	var cfg Config
	require.NoError(t, json.Unmarshal([]byte(meta["fastvae.config"]), &cfg))
	assert.True(t, cfg.Equal(m.cfg))
	assert.Contains(t, meta["fastvae.config"], `"decoder":"gaussian"`)

	want := 3*len(m.params) + 1
	assert.Len(t, tensors, want)
	for i, p := range m.params {
		rt := tensors[p.Name]
		require.NotNil(t, rt, p.Name)
		assert.Equal(t, "F32", rt.Dtype)
		assert.Equal(t, p.Shape, rt.Shape)
		assert.Equal(t, p.Value, refF32(rt.data), p.Name)
		assert.Equal(t, m.opt.M[i], refF32(tensors["optim."+p.Name+".exp_avg"].data))
		assert.Equal(t, m.opt.V[i], refF32(tensors["optim."+p.Name+".exp_avg_sq"].data))
	}
	step := tensors["optim.step"]
	assert.Equal(t, "I64", step.Dtype)
	assert.Equal(t, []int{}, step.Shape)
	assert.Equal(t, uint64(2), binary.LittleEndian.Uint64(step.data))

	// Layout as the reference writer makes it: 8-byte dtypes first, then by
	// name, contiguous from offset 0.
	names := make([]string, 0, len(tensors))
	for k := range tensors {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return tensors[a].Offsets[0] - tensors[b].Offsets[0] })
	assert.Equal(t, "optim.step", names[0])
	assert.True(t, slices.IsSorted(names[1:]))
	assert.Equal(t, 0, tensors[names[0]].Offsets[0])
	assert.Equal(t, len(b)-8-hlen, tensors[names[len(names)-1]].Offsets[1])
}

// TestResume: training, saving, loading and continuing equals uninterrupted
// training bit for bit: parameters, optimizer state, streams and losses,
// through a smaller last batch and evaluations.
func TestResume(t *testing.T) {
	impls.Each(t, func(t *testing.T) {
		for _, dec := range []Decoder{Bernoulli, Gaussian} {
			t.Run(dec.String(), func(t *testing.T) {
				cfg := smallConfig(dec)
				x := synthetic(9, 150, cfg.Input)
				epoch := func(m *Model) (st Stats) {
					for lo := 0; lo < 150; lo += 64 {
						st.Add(m.TrainStep(x[lo*cfg.Input : min(lo+64, 150)*cfg.Input]))
					}
					st.Add(m.Eval(x[:20*cfg.Input]))
					return st
				}
				a, err := New(cfg, 5)
				require.NoError(t, err)
				a.Optimizer().LR = 2e-3
				var straight []Stats
				for range 4 {
					straight = append(straight, epoch(a))
				}

				b, err := New(cfg, 5)
				require.NoError(t, err)
				b.Optimizer().LR = 2e-3
				epoch(b)
				epoch(b)
				path := filepath.Join(t.TempDir(), "ckpt.safetensors")
				require.NoError(t, b.Save(path, map[string]string{"epoch": "2"}))
				c, meta, err := Load(path)
				require.NoError(t, err)
				assert.Equal(t, map[string]string{"epoch": "2"}, meta)
				assert.True(t, c.Config().Equal(cfg))
				assert.Equal(t, float32(2e-3), c.Optimizer().LR)
				assert.Equal(t, straight[2], epoch(c))
				assert.Equal(t, straight[3], epoch(c))

				assert.Equal(t, snapshot(a), snapshot(c))
				assert.Equal(t, a.opt.M, c.opt.M)
				assert.Equal(t, a.opt.V, c.opt.V)
				assert.Equal(t, a.opt.Steps, c.opt.Steps)
				for _, src := range [][2]interface{ MarshalBinary() ([]byte, error) }{{a.epsSrc, c.epsSrc}, {a.evalSrc, c.evalSrc}} {
					sa, _ := src[0].MarshalBinary()
					sc, _ := src[1].MarshalBinary()
					assert.Equal(t, sa, sc)
				}
			})
		}
	})
}

// TestLoadWeights loads a bare PyTorch-style state_dict (no metadata, no
// optimizer state), and rejects one of another shape.
func TestLoadWeights(t *testing.T) {
	src, _ := trainedTiny(t, Bernoulli)
	var ts []*stTensor
	for _, p := range src.params {
		ts = append(ts, &stTensor{p.Name, "F32", p.Shape, f32Bytes(p.Value)})
	}
	var buf bytes.Buffer
	require.NoError(t, writeSafetensors(&buf, nil, ts))
	dir := t.TempDir()
	path := filepath.Join(dir, "state_dict.safetensors")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))

	dst, err := New(src.cfg, 99)
	require.NoError(t, err)
	require.NoError(t, dst.LoadWeights(path))
	assert.Equal(t, snapshot(src), snapshot(dst))

	_, _, err = Load(path)
	assert.ErrorContains(t, err, "load checkpoint "+path+": no fastvae.config in the metadata")

	// A full checkpoint loads too: its optimizer tensors are ignored.
	full := filepath.Join(dir, "full.safetensors")
	require.NoError(t, src.Save(full, nil))
	require.NoError(t, dst.LoadWeights(full))

	other := tinyConfig(Bernoulli)
	other.Hidden = []int{5, 3}
	o, err := New(other, 1)
	require.NoError(t, err)
	err = o.LoadWeights(path)
	assert.EqualError(t, err, `load weights `+path+`: tensor "fc2.bias" has shape [4], model 6-5-3-3 bernoulli beta=0.6 needs [3]`)
	err = o.LoadWeights(filepath.Join(dir, "absent"))
	assert.ErrorContains(t, err, "absent: no such file")
}

// mutate returns a copy of the checkpoint b with its header's JSON replaced
// by f(header), re-padded and with the length fixed.
func mutate(t *testing.T, b []byte, f func(h string) string) []byte {
	hlen := binary.LittleEndian.Uint64(b)
	h := f(strings.TrimRight(string(b[8:8+hlen]), " "))
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(out, h...)
	return append(out, b[8+hlen:]...)
}

// TestLoadErrors feeds corrupt and mismatched files to Load and checks that
// each gives an error naming the file and the problem.
func TestLoadErrors(t *testing.T) {
	m, _ := trainedTiny(t, Bernoulli)
	var buf bytes.Buffer
	require.NoError(t, m.writeCheckpoint(&buf, map[string]string{"epoch": "1"}))
	good := buf.Bytes()
	hlen := int(binary.LittleEndian.Uint64(good))
	replace := func(old, new string) func(string) string {
		return func(h string) string {
			require.Contains(t, h, old)
			return strings.Replace(h, old, new, 1)
		}
	}
	withLen := func(n uint64) []byte {
		b := slices.Clone(good)
		binary.LittleEndian.PutUint64(b, n)
		return b
	}
	cfg := tinyConfig(Bernoulli)
	cfg.Latent = 2
	cfgJSON, _ := json.Marshal(cfg)
	cfgJSON, _ = json.Marshal(string(cfgJSON))
	origJSON, _ := json.Marshal(m.cfg)
	origQuoted, _ := json.Marshal(string(origJSON))

	cases := []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "file is 0 bytes, too short for the 8-byte header length"},
		{"short", good[:5], "file is 5 bytes"},
		{"truncated header", good[:100], "header length " + itoa(hlen) + " exceeds the 92 bytes after it (truncated?)"},
		{"truncated data", good[:len(good)-10], "beyond the"},
		{"header too long", withLen(1 << 40), "exceeds the 104857600-byte limit"},
		{"not json", mutate(t, good, func(string) string { return "{nonsense" }), "header JSON"},
		{"not an object", mutate(t, good, func(string) string { return "[1]" }), "does not start with '{'"},
		{"trailing", mutate(t, good, func(h string) string { return h + "{}" }), "data after its JSON object"},
		{"dtype", mutate(t, good, replace(`"fc1.bias":{"dtype":"F32"`, `"fc1.bias":{"dtype":"F16"`)), `tensor "fc1.bias": dtype "F16" not supported`},
		{"wrong dtype", mutate(t, good, replace(`"optim.step":{"dtype":"I64","shape":[]`, `"optim.step":{"dtype":"F32","shape":[2]`)), `tensor "optim.step" has dtype F32, want I64`},
		{"shape vs offsets", mutate(t, good, replace(`"fc1.bias":{"dtype":"F32","shape":[5]`, `"fc1.bias":{"dtype":"F32","shape":[6]`)), `tensor "fc1.bias": data_offsets`},
		{"negative dim", mutate(t, good, replace(`"fc1.bias":{"dtype":"F32","shape":[5]`, `"fc1.bias":{"dtype":"F32","shape":[-5]`)), "dimension out of range"},
		{"missing field", mutate(t, good, replace(`"fc1.bias":{"dtype":"F32",`, `"fc1.bias":{`)), "needs dtype, shape and data_offsets"},
		{"duplicate", mutate(t, good, func(h string) string {
			return strings.Replace(h, `"__metadata__"`, `"fc1.bias":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"__metadata__"`, 1)
		}), `header names "fc1.bias" twice`},
		{"overlap", mutate(t, good, func(h string) string {
			return strings.Replace(h, `"__metadata__"`, `"zz":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"__metadata__"`, 1)
		}), "overlap"},
		{"gap", append(mutate(t, good, func(h string) string { return h }), 1, 2, 3, 4), "4 data bytes after the last tensor"},
		{"metadata type", mutate(t, good, replace(`"epoch":"1"`, `"epoch":1`)), "__metadata__ is not a map of strings"},
		{"no config", mutate(t, good, replace(`"fastvae.config"`, `"fastvae.konfig"`)), "no fastvae.config in the metadata"},
		{"bad config", mutate(t, good, replace(`"decoder\":\"bernoulli\"`, `"decoder\":\"poisson\"`)), `fastvae.config: unknown decoder "poisson"`},
		{"invalid config", mutate(t, good, replace(`\"latent\":3`, `\"latent\":0`)), "fastvae.config: invalid vae config: latent=0"},
		{"other config", mutate(t, good, replace(string(origQuoted), string(cfgJSON))), `tensor "fc31.bias" has shape [3], model 6-5-4-2 bernoulli beta=0.6 needs [2]`},
		{"version", mutate(t, good, replace(`"fastvae.version":"1"`, `"fastvae.version":"2"`)), `fastvae.version="2", this fastvae reads version 1`},
		{"missing tensor", mutate(t, good, replace(`"fc1.bias"`, `"fc1.bias2"`)), `tensor "fc1.bias" missing`},
		{"rng", mutate(t, good, replace(`"fastvae.rng.eps":"`, `"fastvae.rng.eps":"!!`)), "fastvae.rng.eps: missing, or not a base64 generator state"},
		{"optim", mutate(t, good, replace(`"fastvae.optim"`, `"fastvae.optimum"`)), "fastvae.optim: missing from the metadata"},
		{"beta", mutate(t, good, replace(`"fastvae.version"`, `"fastvae.beta":"-0.5","fastvae.version"`)), `fastvae.beta="-0.5": not a non-negative finite number`},
		{"beta text", mutate(t, good, replace(`"fastvae.version"`, `"fastvae.beta":"warm","fastvae.version"`)), `fastvae.beta="warm"`},
		{"class names", mutate(t, good, replace(`"fastvae.version"`, `"fastvae.class_names":"[\"a\"]","fastvae.version"`)), "fastvae.class_names: 1 class names for a model of 0 classes"},
		{"class names json", mutate(t, good, replace(`"fastvae.version"`, `"fastvae.class_names":"{}","fastvae.version"`)), "fastvae.class_names: json: cannot unmarshal"},
		{"class names null", mutate(t, good, replace(`"fastvae.version"`, `"fastvae.class_names":"null","fastvae.version"`)), "fastvae.class_names: not an array of strings"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			require.NoError(t, os.WriteFile(path, c.data, 0o644))
			_, _, err := Load(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "load checkpoint "+path+": ")
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	_, _, err := Load(filepath.Join(dir, "nope"))
	assert.ErrorContains(t, err, "nope: no such file")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSaveAtomic: Save replaces the file whole, leaves no temporary files,
// and an error (reserved metadata, missing directory) leaves the old file.
func TestSaveAtomic(t *testing.T) {
	m, _ := trainedTiny(t, Bernoulli)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	require.NoError(t, m.Save(path, map[string]string{"epoch": "1"}))
	first, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, m.Save(path, map[string]string{"epoch": "2"}))
	_, meta, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, "2", meta["epoch"])

	err = m.Save(path, map[string]string{"fastvae.config": "x"})
	assert.EqualError(t, err, "save checkpoint "+path+`: metadata key "fastvae.config" is reserved for fastvae`)
	err = m.Save(path, map[string]string{"format": "x"})
	assert.Error(t, err)
	err = m.Save(path, map[string]string{"rng": "\xff\xfe"})
	assert.ErrorContains(t, err, `metadata "rng": not valid UTF-8`)
	_, meta, err = Load(path)
	require.NoError(t, err)
	assert.Equal(t, "2", meta["epoch"], "failed saves leave the file alone")
	assert.Equal(t, len(first), func() int { b, _ := os.ReadFile(path); return len(b) }())

	err = m.Save(filepath.Join(dir, "missing", "m.safetensors"), nil)
	assert.ErrorContains(t, err, "save checkpoint "+filepath.Join(dir, "missing", "m.safetensors"))

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files left behind")
	info, err := entries[0].Info()
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm())
}

// TestGoldenCheckpoint pins the format and the initialisation: the files
// for the tiny model of seed 1, untrained, and for a conditional one with
// class names and a KL weight of its own, must equal the testdata files
// byte for byte on every architecture, and still load.
func TestGoldenCheckpoint(t *testing.T) {
	cond := tinyConfig(Gaussian)
	cond.Classes = 2
	for _, c := range []struct {
		golden string
		cfg    Config
		names  []string
		beta   float64
	}{
		{"testdata/tiny.safetensors", tinyConfig(Bernoulli), nil, tinyConfig(Bernoulli).Beta},
		{"testdata/tiny_conditional.safetensors", cond, []string{"cat", "dog"}, 0.25},
	} {
		m, err := New(c.cfg, 1)
		require.NoError(t, err)
		require.NoError(t, m.SetClassNames(c.names))
		m.SetBeta(c.beta)
		var buf bytes.Buffer
		require.NoError(t, m.writeCheckpoint(&buf, map[string]string{"epoch": "0"}))
		if *update {
			require.NoError(t, os.WriteFile(c.golden, buf.Bytes(), 0o644))
			if c.cfg.Classes == 0 {
				writeFuzzCorpus(t, buf.Bytes())
			}
		}
		want, err := os.ReadFile(c.golden)
		require.NoError(t, err)
		assert.Equal(t, want, buf.Bytes(), "%s: checkpoint bytes changed (format, init or streams); rerun with -update only if intended", c.golden)
		l, meta, err := Load(c.golden)
		require.NoError(t, err)
		assert.Equal(t, "0", meta["epoch"])
		assert.Equal(t, snapshot(m), snapshot(l))
		assert.Equal(t, c.names, l.ClassNames())
		assert.Equal(t, c.beta, l.Beta())
	}
}

// fuzzSeeds are the golden checkpoint and damaged copies of it.
func fuzzSeeds(good []byte) [][]byte {
	hlen := int(binary.LittleEndian.Uint64(good))
	seeds := [][]byte{good}
	for _, n := range []int{0, 7, 8, 9, 8 + hlen/2, 8 + hlen, 8 + hlen + 3, len(good) - 1} {
		seeds = append(seeds, good[:n])
	}
	flipped := slices.Clone(good)
	flipped[8+hlen/3] ^= 0x20
	return append(seeds, flipped)
}

// writeFuzzCorpus stores the seeds in Go's corpus format under
// testdata/fuzz/FuzzLoad, where go test runs them as regression inputs.
func writeFuzzCorpus(t *testing.T, good []byte) {
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i, s := range fuzzSeeds(good) {
		entry := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "seed"+itoa(i)), []byte(entry), 0o644))
	}
}

// FuzzLoad: no input makes the loader panic; whatever it accepts survives a
// save and load unchanged; LoadWeights is equally robust. Besides the
// golden checkpoint's seeds, the conditional golden checkpoint (class
// names, a KL weight of its own) seeds it.
func FuzzLoad(f *testing.F) {
	good, err := os.ReadFile("testdata/tiny.safetensors")
	require.NoError(f, err)
	for _, s := range fuzzSeeds(good) {
		f.Add(s)
	}
	cond, err := os.ReadFile("testdata/tiny_conditional.safetensors")
	require.NoError(f, err)
	f.Add(cond)
	tiny, err := New(tinyConfig(Bernoulli), 1)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = tiny.decodeWeights(data)
		m, meta, err := decodeCheckpoint(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		require.NoError(t, m.writeCheckpoint(&buf, meta))
		m2, meta2, err := decodeCheckpoint(buf.Bytes())
		require.NoError(t, err)
		assert.Equal(t, meta, meta2)
		assert.True(t, m.cfg.Equal(m2.cfg))
		assert.Equal(t, m.Beta(), m2.Beta())
		assert.Equal(t, m.ClassNames(), m2.ClassNames())
		for i, p := range m.params {
			for j, v := range p.Value {
				require.Equal(t, math.Float32bits(v), math.Float32bits(m2.params[i].Value[j]))
			}
		}
		assert.Equal(t, m.opt.Steps, m2.opt.Steps)
	})
}
