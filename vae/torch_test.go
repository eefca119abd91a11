package vae

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fastvae/fastvae/internal/fixture"
)

// torchScript holds the PyTorch example's model (pytorch/examples,
// vae/main.py), its conditional variant (the one-hot label concatenated to
// the encoder's input and to z, as README.md shows it), and a minimal
// safetensors reader and writer of its own, so it needs only Debian's
// python3-torch. "load" runs fastvae's checkpoint in the model its
// configuration names; "save" writes a freshly initialised model of C
// classes (0: the example's).
const torchScript = `
import json, struct, sys
import torch
from torch import nn
from torch.nn import functional as F

torch.set_num_threads(1)

class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

class CVAE(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.classes = classes
        self.fc1 = nn.Linear(784 + classes, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20 + classes, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x, y):
        h1 = F.relu(self.fc1(torch.cat([x, y], 1)))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z, y):
        h3 = F.relu(self.fc3(torch.cat([z, y], 1)))
        return torch.sigmoid(self.fc4(h3))

def read_st(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == '__metadata__':
            continue
        s, e = v['data_offsets']
        dt = {'F32': torch.float32, 'I64': torch.int64}[v['dtype']]
        out[k] = torch.frombuffer(bytearray(b[8 + n + s:8 + n + e]), dtype=dt).reshape(v['shape'])
    return h.get('__metadata__', {}), out

def write_st(path, tensors):
    header, off, blobs = {}, 0, []
    for k in sorted(tensors):
        data = tensors[k].detach().contiguous().float().numpy().tobytes()
        header[k] = {'dtype': 'F32', 'shape': list(tensors[k].shape), 'data_offsets': [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    hj = json.dumps(header).encode()
    hj += b' ' * ((8 - len(hj) % 8) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))

def f32(path, cols):
    return torch.frombuffer(bytearray(open(path, 'rb').read()), dtype=torch.float32).reshape(-1, cols)

# Labels, when the model is conditional, are float32 values in the file
# LABELS; with none the calls below leave them out.
def model_for(classes, labels_path):
    if classes == 0:
        return VAE(), (), ()
    y = F.one_hot(f32(labels_path, 1).reshape(-1).long(), classes).float()
    return CVAE(classes), (y,), (y,)

mode, xpath, stpath, outpath = sys.argv[1:5]
x = f32(xpath, 784)
if mode == 'load':
    meta, t = read_st(stpath)
    assert meta['format'] == 'pt'
    classes = json.loads(meta['fastvae.config']).get('classes', 0)
    model, ye, yd = model_for(classes, sys.argv[6] if classes else None)
    model.load_state_dict({k: v for k, v in t.items() if not k.startswith('optim.')}, strict=True)
    eps = f32(sys.argv[5], 20)
    with torch.no_grad():
        mu, logvar = model.encode(x, *ye)
        z = mu + eps * torch.exp(0.5 * logvar)
        recon = model.decode(z, *yd)
        BCE = F.binary_cross_entropy(recon, x, reduction='sum')
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        probs = model.decode(mu, *yd)
    out = mu.numpy().tobytes() + logvar.numpy().tobytes() + probs.numpy().tobytes()
    out += struct.pack('<dd', BCE.item(), KLD.item())
else:
    classes = int(sys.argv[5])
    torch.manual_seed(1)
    model, ye, yd = model_for(classes, sys.argv[6] if classes else None)
    write_st(stpath, model.state_dict())
    with torch.no_grad():
        out = model.decode(model.encode(x, *ye)[0], *yd).numpy().tobytes()
open(outpath, 'wb').write(out)
`

func writeF32(t *testing.T, path string, v []float32) {
	require.NoError(t, os.WriteFile(path, f32Bytes(v), 0o644))
}

// TestPyTorchInterop: the PyTorch example's model, and its conditional
// variant with 10 classes, load fastvae's checkpoint (strict
// load_state_dict) and compute the same encoding, decoding and loss;
// fastvae loads weights saved from those models and decodes as they do.
// Float32 GEMMs in different orders agree to about 1e-5.
func TestPyTorchInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: PyTorch takes seconds to start")
	}
	py := fixture.TorchPython(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "vae.py")
	require.NoError(t, os.WriteFile(script, []byte(torchScript), 0o644))
	const n = 16
	x := synthetic(12, n, 784)
	xpath := filepath.Join(dir, "x.f32")
	writeF32(t, xpath, x)
	labels := make([]int, n)
	fl := make([]float32, n)
	for i := range labels {
		labels[i] = (i * 3) % 10
		fl[i] = float32(labels[i])
	}
	lpath := filepath.Join(dir, "labels.f32")
	writeF32(t, lpath, fl)
	// run calls the script as "vae.py MODE X SAFETENSORS OUT [EPS|C] [LABELS]"
	// and returns what it wrote to OUT.
	run := func(mode, st string, extra ...string) []byte {
		out := filepath.Join(dir, "out.bin")
		args := append([]string{script, mode, xpath, st, out}, extra...)
		msg, err := exec.Command(py, args...).CombinedOutput()
		require.NoError(t, err, "%s", msg)
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		return b
	}

	for _, classes := range []int{0, 10} {
		cfg := DefaultConfig()
		cfg.Classes = classes
		var lab []int
		var labArgs []string
		if classes > 0 {
			lab, labArgs = labels, []string{lpath}
		}
		t.Run(fmt.Sprintf("classes=%d/fastvae to torch", classes), func(t *testing.T) {
			m, err := New(cfg, 21)
			require.NoError(t, err)
			ckpt := filepath.Join(dir, "fastvae.safetensors")
			require.NoError(t, m.Save(ckpt, map[string]string{"epoch": "1"}))
			m.fixedEps = make([]float32, n*cfg.Latent)
			for i := range m.fixedEps {
				m.fixedEps[i] = float32(math.Sin(float64(i))) // any fixed ε
			}
			epsPath := filepath.Join(dir, "eps.f32")
			writeF32(t, epsPath, m.fixedEps)
			b := run("load", ckpt, append([]string{epsPath}, labArgs...)...)

			L, D := cfg.Latent, cfg.Input
			require.Len(t, b, 4*(2*n*L+n*D)+16)
			tmu, tlogvar, tprobs := make([]float32, n*L), make([]float32, n*L), make([]float32, n*D)
			readF32(tmu, b)
			readF32(tlogvar, b[4*n*L:])
			readF32(tprobs, b[8*n*L:])
			bce := math.Float64frombits(binary.LittleEndian.Uint64(b[len(b)-16:]))
			kld := math.Float64frombits(binary.LittleEndian.Uint64(b[len(b)-8:]))

			mu, logvar, probs := make([]float32, n*L), make([]float32, n*L), make([]float32, n*D)
			if classes > 0 {
				m.EncodeLabeled(mu, logvar, x, lab)
				m.ReconstructLabeled(probs, x, lab)
			} else {
				m.Encode(mu, logvar, x)
				m.Reconstruct(probs, x)
			}
			assert.InDeltaSlice(t, tmu, mu, 1e-5)
			assert.InDeltaSlice(t, tlogvar, logvar, 1e-5)
			assert.InDeltaSlice(t, tprobs, probs, 1e-5)
			m.Reserve(n)
			st := m.forward(x, lab, n, nil)
			assert.InEpsilon(t, bce, st.Recon, 1e-5, "BCE")
			assert.InEpsilon(t, kld, st.KL, 1e-4, "KLD")
			t.Logf("torch BCE %.6f KLD %.6f, fastvae %.6f %.6f", bce, kld, st.Recon, st.KL)
		})

		t.Run(fmt.Sprintf("classes=%d/torch to fastvae", classes), func(t *testing.T) {
			sd := filepath.Join(dir, "torch.safetensors")
			b := run("save", sd, append([]string{fmt.Sprint(classes)}, labArgs...)...)
			tprobs := make([]float32, n*cfg.Input)
			readF32(tprobs, b)
			m, err := New(cfg, 1)
			require.NoError(t, err)
			require.NoError(t, m.LoadWeights(sd))
			probs := make([]float32, n*cfg.Input)
			if classes > 0 {
				m.ReconstructLabeled(probs, x, lab)
			} else {
				m.Reconstruct(probs, x)
			}
			assert.InDeltaSlice(t, tprobs, probs, 1e-5)
			raw, err := os.ReadFile(sd)
			require.NoError(t, err)
			assert.True(t, bytes.Contains(raw, []byte(`"fc21.weight"`)))
		})
	}
}
