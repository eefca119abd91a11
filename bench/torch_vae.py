#!/usr/bin/env python3
"""The PyTorch VAE example (pytorch/examples, vae/main.py), timed, on IDX data.

Same model (784-400-20, ReLU, Bernoulli decoder), loss (BCE summed + KLD),
optimiser (Adam, lr 1e-3), batch (128, reshuffled every epoch) and seed as
the example, and the example's log lines. Unlike the example, the data is
read once from the IDX files into tensors held in memory (no DataLoader), so
that what is timed is the model, as fastvae's trainer does; pictures are not
written. After each epoch one JSON line reports the times and losses:

  {"epoch": 1, "train_seconds": 4.41, "train_cpu_seconds": 4.40, "test_seconds": 0.31,
   "train_loss": 284.69, "test_loss": 262.43, "threads": 1,
   "openblas": {"build": "openmp", "core": "Cooperlake", ...}}

("openblas" says which OpenBLAS build and kernels ran, from the library.)

Usage: torch_vae.py [--data DIR] [--epochs E] [--threads N] [--seed S]
bench/side_by_side.py runs it with the OpenBLAS build and kernels of
bench/openblas_core.py; alone it runs what the environment gives:
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp selects the OpenMP
build, OPENBLAS_CORETYPE the kernels.
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim

import openblas_core


def read_idx(path, ndim):
    """Reads an unsigned-byte IDX file (raw or gzipped) into a numpy array."""
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                raw = f.read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            magic, = struct.unpack(">I", raw[:4])
            if magic != 0x800 + ndim:
                sys.exit(f"{p}: bad magic number {magic:#010x}")
            dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
            data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
            if data.size != int(np.prod(dims)):
                sys.exit(f"{p}: {data.size} bytes of data, header declares {dims}")
            return data.reshape(dims)
    sys.exit(f"{path}: no such file (nor .gz)")


def load(data, split):
    x = read_idx(os.path.join(data, f"{split}-images-idx3-ubyte"), 3)
    # As torchvision's ToTensor: uint8 -> float32 / 255.
    return torch.from_numpy(x.copy()).float().div(255).view(-1, 784)


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-interval", type=int, default=10)
    ap.add_argument("--quiet", action="store_true", help="print only the JSON lines")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, test_x = load(args.data, "train"), load(args.data, "t10k")
    n_train, n_test = len(train_x), len(test_x)
    n_batches = (n_train + args.batch_size - 1) // args.batch_size

    model = VAE()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    log = (lambda *a: None) if args.quiet else print
    openblas = openblas_core.loaded()

    for epoch in range(1, args.epochs + 1):
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        train_loss = 0.0
        perm = torch.randperm(n_train)
        for batch_idx in range(n_batches):
            data = train_x[perm[batch_idx * args.batch_size:(batch_idx + 1) * args.batch_size]]
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            if batch_idx % args.log_interval == 0:
                log("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                    epoch, batch_idx * len(data), n_train,
                    100.0 * batch_idx / n_batches, loss.item() / len(data)))
        train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        log("====> Epoch: {} Average loss: {:.4f}".format(epoch, train_loss / n_train))

        model.eval()
        t0 = time.perf_counter()
        test_loss = 0.0
        with torch.no_grad():
            for i in range(0, n_test, args.batch_size):
                data = test_x[i:i + args.batch_size]
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
        test_s = time.perf_counter() - t0
        test_loss /= n_test
        log("====> Test set loss: {:.4f}".format(test_loss))
        print(json.dumps({
            "epoch": epoch, "train_seconds": round(train_s, 4), "train_cpu_seconds": round(train_cpu, 4),
            "test_seconds": round(test_s, 4),
            "train_loss": train_loss / n_train, "test_loss": test_loss, "threads": args.threads,
            "openblas": openblas,
        }), flush=True)


if __name__ == "__main__":
    main()
