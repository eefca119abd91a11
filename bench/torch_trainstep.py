#!/usr/bin/python3
"""Times one training step of the PyTorch VAE example as Go benchmark lines.

Usage: torch_trainstep.py --gobench GO_BENCH_OUTPUT [--bench REGEXP]
                          [--benchtime 1s|Nx] [--procs N] [--blas openmp|pthreads]
                          [--openblas-choice FILE]

The step is bench/torch_vae.py's (the example's model, loss and Adam, with
lr 1e-3): zero_grad, forward, loss, backward, optimizer step, on one batch of
uniform [0, 1) pixels held in memory, as BenchmarkTrainStep (vae/) times
fastvae's. The batch sizes and thread counts are those of the
BenchmarkTrainStep lines in GO_BENCH_OUTPUT; each is timed in a child process
started with OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to the thread count
(torch.set_num_threads too), on the OpenMP build of OpenBLAS when it is
installed (--blas), with the OpenBLAS kernels ("core") bench/openblas_core.py
chooses for this CPU (--openblas-choice: a choice made before, as
bench/run.sh makes one per run), and prints one line per configuration, named
as BenchmarkTrainStep names its sub-benchmarks with impl=torch:

    BenchmarkTrainStep/impl=torch/threads=1/batch=128-2  1000  1190000 ns/op  107563 images/s  1.188 cpu-ms/op

preceded by a comment naming the PyTorch version, the OpenBLAS build, its
core and the thread setting, and a pkg: line so that the
lines join the vae package's table. cpu-ms/op is the CPU time of all the
process's threads per step, as BenchmarkTrainStep reports it. --bench, --benchtime and --procs are as
in numpy_sgemm.py (make bench passes its own).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import openblas_core
from numpy_sgemm import matches, parse_benchtime

LINE = re.compile(r"^BenchmarkTrainStep/impl=(\w+)/threads=(\d+)/batch=(\d+)(?:-\d+)?\s")


def measure(batches, benchtime):
    """Runs in the child: times a training step per batch size for about
    benchtime, growing the iteration count as go test does. Returns the
    PyTorch and BLAS description and [steps, wall seconds, CPU seconds of
    the process] per batch size."""
    import torch
    from torch import optim
    from torch_vae import VAE, loss_function

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    out = {}
    for batch in batches:
        torch.manual_seed(1)
        model = VAE()
        opt = optim.Adam(model.parameters(), lr=1e-3)
        x = torch.rand(batch, 784)

        def step():
            opt.zero_grad()
            recon, mu, logvar = model(x)
            loss_function(recon, x, mu, logvar).backward()
            opt.step()

        step()  # allocate Adam's state and warm the caches
        reps = benchtime if isinstance(benchtime, int) else 1
        while True:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(reps):
                step()
            t, cpu = time.perf_counter() - t0, time.process_time() - c0
            if isinstance(benchtime, int) or t >= benchtime or reps >= 1_000_000_000:
                break
            want = int(benchtime * 1.2 * reps / max(t, 1e-9))
            reps = max(reps + 1, min(want, 100 * reps))
        out[str(batch)] = [reps, t, cpu]
    return {"torch": torch.__version__, "loaded": openblas_core.loaded(), "runs": out}


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        batches, benchtime = json.loads(sys.argv[2])
        json.dump(measure(batches, benchtime), sys.stdout)
        return
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--gobench", required=True)
    ap.add_argument("--bench", default=".")
    ap.add_argument("--benchtime", default="1s")
    ap.add_argument("--procs", type=int, default=os.cpu_count())
    # PyTorch runs faster on Debian's OpenMP build of OpenBLAS than on the
    # pthreads one at 2 threads here (bench/side_by_side.py).
    ap.add_argument("--blas", choices=tuple(openblas_core.BUILDS),
                    default="openmp" if os.path.isdir(openblas_core.BUILDS["openmp"]) else "pthreads")
    ap.add_argument("--openblas-choice", help="the OpenBLAS core chosen by bench/openblas_core.py --json")
    args = ap.parse_args()
    try:
        choice = (openblas_core.load(args.openblas_choice, args.blas) or
                  openblas_core.choose(args.blas, log=lambda m: print(m, file=sys.stderr)))
    except (OSError, ValueError, RuntimeError) as e:
        sys.exit(f"torch_trainstep.py: {e}")

    configs = []
    with open(args.gobench) as f:
        for line in f:
            mt = LINE.match(line)
            if mt and mt.group(1) != "torch":
                c = (int(mt.group(2)), int(mt.group(3)))
                if c not in configs:
                    configs.append(c)
    benchtime = parse_benchtime(args.benchtime)
    suffix = f"-{args.procs}" if args.procs != 1 else ""
    header = False
    for t in sorted({t for t, _ in configs}):
        name = "TrainStep/impl=torch/threads={}/batch={}".format
        batches = [b for tt, b in configs if tt == t and matches(args.bench, name(t, b))]
        if not batches:
            continue
        res = json.loads(subprocess.run(
            [sys.executable, __file__, "--child", json.dumps([batches, benchtime])],
            env=openblas_core.child_env(choice, t), check=True, capture_output=True, text=True).stdout)
        lib = res["loaded"]
        if not lib or lib["core"] != choice["core"] or lib["build"] != choice["build"]:
            sys.exit(f"torch_trainstep.py: PyTorch runs {lib}, not OpenBLAS's {choice['build']} build "
                     f"with core {choice['core']}")
        if not header:
            print(f"# peer torch: PyTorch {res['torch']} on {openblas_core.describe(choice)}, {lib['path']}; "
                  f"OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=torch.set_num_threads=threads=; "
                  f"the example's model (bench/torch_vae.py), one training step per op")
            print("pkg: github.com/fastvae/fastvae/vae")
            header = True
        for b in batches:
            reps, secs, cpu = res["runs"][str(b)]
            line = f"Benchmark{name(t, b)}{suffix}\t{reps}\t{secs / reps * 1e9:.0f} ns/op\t{b * reps / secs:.0f} images/s"
            if cpu > 0:
                line += f"\t{cpu * 1e3 / reps:.3f} cpu-ms/op"
            print(line, flush=True)


if __name__ == "__main__":
    main()
