#!/usr/bin/env python3
"""fastvae against the PyTorch VAE example, side by side, on the same data.

Runs bench/torch_vae.py under both OpenBLAS builds Debian ships (the default
pthreads one and the OpenMP one, chosen with LD_LIBRARY_PATH), each with the
kernels ("core") bench/openblas_core.py chooses for this CPU, at 1 and 2
threads (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and torch.set_num_threads), and `fastvae train` with the same settings at 1 and 2 threads, then
prints seconds per training epoch (the median and the fastest of the
epochs), the test loss after each epoch, and fastvae's time as a fraction of
PyTorch's: at the same thread count (PyTorch at its better BLAS) and against
PyTorch's best overall. Ratios use the fastest epoch of each run, the
figure least disturbed by other work on a shared machine.

The machine may be shared, so the runs are interleaved (one PyTorch run, one
fastvae run, ...) rather than grouped, and each reports CPU seconds too.

Usage: side_by_side.py --fastvae BIN [--epochs E] [--data DIR] [--seed S]
                       [--threads 1,2] [--blas pthread,OpenMP] [--raw FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import openblas_core

HERE = os.path.dirname(os.path.abspath(__file__))
# --blas names, as the tables print them, and the builds they are.
BLAS_BUILDS = {"pthread": "pthreads", "OpenMP": "openmp"}


def run_torch(args, threads, choice):
    cmd = [args.python, os.path.join(HERE, "torch_vae.py"), "--quiet", "--data", args.data,
           "--epochs", str(args.epochs), "--seed", str(args.seed), "--threads", str(threads)]
    out = subprocess.run(cmd, env=openblas_core.child_env(choice, threads), check=True, capture_output=True,
                         text=True).stdout
    epochs = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    for e in epochs:
        lib = e.get("openblas") or {}
        if lib.get("core") != choice["core"] or lib.get("build") != choice["build"]:
            sys.exit(f"side_by_side.py: PyTorch ran {lib or 'no OpenBLAS'}, not OpenBLAS's {choice['build']} build "
                     f"with core {choice['core']}")
    return epochs


def run_fastvae(args, threads):
    with tempfile.TemporaryDirectory() as out:
        cmd = [args.fastvae, "train", "--data", args.data, "--epochs", str(args.epochs),
               "--seed", str(args.seed), "--threads", str(threads), "--out", out,
               "--progress", "off"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "metrics.jsonl")) as f:
            return [json.loads(l) for l in f if l.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fastvae", required=True, help="the fastvae binary")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--threads", default="1,2", help="comma list of thread counts")
    ap.add_argument("--blas", default="pthread,OpenMP", help="OpenBLAS builds for PyTorch: pthread, OpenMP or both")
    ap.add_argument("--raw", help="append each run's per-epoch results to this file as JSON lines")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    runs = {}  # name -> (kind, threads, epochs)
    blases = openblas_core.split_choices("side_by_side.py", "--blas", args.blas, BLAS_BUILDS)
    try:
        choices = {b: openblas_core.choose(BLAS_BUILDS[b], python=args.python,
                                           log=lambda m: print(m, file=sys.stderr)) for b in blases}
    except RuntimeError as e:
        print(f"side_by_side.py: {e}", file=sys.stderr)
        sys.exit(1)
    for b in blases:
        print(f"PyTorch, OpenBLAS {b}: {openblas_core.describe(choices[b])}", file=sys.stderr, flush=True)

    def done(name, kind, t, epochs):
        runs[name] = (kind, t, epochs)
        last = epochs[-1]
        print(f"  {name}: fastest epoch {min(e['train_seconds'] for e in epochs):.2f} s, "
              f"test loss after epoch {last['epoch']} {last['test_loss']:.4f}", file=sys.stderr, flush=True)
        if args.raw:
            with open(args.raw, "a") as f:
                f.write(json.dumps({"run": name, "epochs": epochs}) + "\n")

    for t in threads:
        for blas in blases:
            name = f"PyTorch, OpenBLAS {blas} ({choices[blas]['core']}), {t} thread{'s' if t > 1 else ''}"
            print(f"running {name} ...", file=sys.stderr, flush=True)
            done(name, "torch", t, run_torch(args, t, choices[blas]))
        name = f"fastvae, {t} thread{'s' if t > 1 else ''}"
        print(f"running {name} ...", file=sys.stderr, flush=True)
        done(name, "fastvae", t, run_fastvae(args, t))

    def sec(r):
        return min(e["train_seconds"] for e in r[2])

    def median(r):
        return statistics.median(e["train_seconds"] for e in r[2])

    def cpu(r):
        vals = [e.get("train_cpu_seconds") for e in r[2]]
        return statistics.median(vals) if all(v is not None for v in vals) else float("nan")

    kernels = next((e.get("kernels") for k, r in runs.items() if r[0] == "fastvae" for e in r[2]), "?")
    print(f"\n{args.epochs} epochs of Fashion-MNIST (60000 images), batch 128, seed {args.seed}; "
          f"fastvae kernels: {kernels}")
    for b in blases:
        print(f"PyTorch, OpenBLAS {b}: {openblas_core.describe(choices[b])}; "
              f"OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=torch.set_num_threads=threads")
    print("seconds per training epoch, wall clock: the fastest epoch and the median; CPU seconds (median)\n")
    width = max(len(n) for n in runs)
    head = f"{'run':<{width}}  {'best s':>7}  {'median':>7}  {'cpu s':>7}  " + " ".join(f"{'ep' + str(i + 1):>7}" for i in range(args.epochs))
    print(head + "   (test loss after each epoch)")
    print("-" * len(head))
    for name, r in runs.items():
        losses = " ".join(f"{e['test_loss']:7.2f}" for e in r[2])
        print(f"{name:<{width}}  {sec(r):7.2f}  {median(r):7.2f}  {cpu(r):7.2f}  {losses}")

    torch_runs = {n: r for n, r in runs.items() if r[0] == "torch"}
    best_name = min(torch_runs, key=lambda n: sec(torch_runs[n]))
    best = sec(torch_runs[best_name])
    print(f"\nPyTorch's best: {best_name}, {best:.2f} s/epoch")
    for name, r in runs.items():
        if r[0] != "fastvae":
            continue
        peer_name = min((n for n, p in torch_runs.items() if p[1] == r[1]), key=lambda n: sec(torch_runs[n]))
        print(f"{name}: {sec(r):.2f} s/epoch = {sec(r) / sec(torch_runs[peer_name]):.3f} × {peer_name}"
              f" = {sec(r) / best:.3f} × PyTorch's best")
        dl = r[2][-1]["test_loss"] - torch_runs[peer_name][2][-1]["test_loss"]
        print(f"{'':<{len(name)}}  test loss after epoch {len(r[2])}: {r[2][-1]['test_loss']:.2f} "
              f"({dl:+.2f} nats against {peer_name})")


if __name__ == "__main__":
    main()
