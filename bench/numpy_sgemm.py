#!/usr/bin/python3
"""Times numpy's float32 matmul (OpenBLAS) at the shapes of BenchmarkSgemm and
prints GFLOP/s beside fastvae's and gonum's, with fastvae/OpenBLAS ratios.

Usage: numpy_sgemm.py GO_BENCH_OUTPUT

GO_BENCH_OUTPUT is the output of `go test -bench Sgemm` in bench/ (any
-count: the median of the runs is used). Shapes and layouts are read from it.
OpenBLAS is timed in a child process per thread count, started with
OPENBLAS_NUM_THREADS set to 1 and 2 and without OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE, so that OpenBLAS picks its kernels for this CPU itself; the
child checks with threadpoolctl which BLAS numpy really calls.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

THREADS = (1, 2)
LINE = re.compile(
    r"^BenchmarkSgemm/impl=(\w+)/threads=(\d+)/shape=(\d+)x(\d+)x(\d+)/layout=([NT]{2})(?:-\d+)?\s.*?([\d.]+) GFLOP/s"
)


def parse_go(path):
    """Returns {(impl, threads, m, n, k, layout): median GFLOP/s} and the
    implementations in order of appearance."""
    runs, impls = {}, []
    with open(path) as f:
        for line in f:
            mt = LINE.match(line)
            if not mt:
                continue
            impl, threads = mt.group(1), int(mt.group(2))
            m, n, k = (int(mt.group(i)) for i in (3, 4, 5))
            key = (impl, threads, m, n, k, mt.group(6))
            runs.setdefault(key, []).append(float(mt.group(7)))
            if impl not in impls:
                impls.append(impl)
    return {key: statistics.median(v) for key, v in runs.items()}, impls


def operands(np, m, n, k, layout):
    """Returns (A, B) with A @ B of shape m×n computed through the transposes
    of layout, as BLAS sees them: a transposed operand is a view of a
    row-major array, which numpy hands to sgemm with the transpose flag."""
    rng = np.random.default_rng(1)
    if layout[0] == "T":
        a = rng.standard_normal((k, m), dtype=np.float32).T
    else:
        a = rng.standard_normal((m, k), dtype=np.float32)
    if layout[1] == "T":
        b = rng.standard_normal((n, k), dtype=np.float32).T
    else:
        b = rng.standard_normal((k, n), dtype=np.float32)
    return a, b


def measure(shapes):
    """Runs in the child: times every shape, returns GFLOP/s (median of five
    runs of at least 0.1 s each) and what threadpoolctl reports."""
    import numpy as np
    from threadpoolctl import threadpool_info

    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    out = {}
    for m, n, k, layout in shapes:
        a, b = operands(np, m, n, k, layout)
        c = np.empty((m, n), dtype=np.float32)
        np.matmul(a, b, out=c)
        reps, t = 1, 0.0
        while True:
            t0 = time.perf_counter()
            for _ in range(reps):
                np.matmul(a, b, out=c)
            t = time.perf_counter() - t0
            if t >= 0.1:
                break
            reps *= 2
        rates = [2.0 * m * n * k * reps / t / 1e9]
        for _ in range(4):
            t0 = time.perf_counter()
            for _ in range(reps):
                np.matmul(a, b, out=c)
            rates.append(2.0 * m * n * k * reps / (time.perf_counter() - t0) / 1e9)
        out[f"{m}x{n}x{k}/{layout}"] = statistics.median(rates)
    return {"blas": info, "gflops": out}


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        shapes = [tuple(s) for s in json.loads(sys.argv[2])]
        json.dump(measure(shapes), sys.stdout)
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    go, impls = parse_go(sys.argv[1])
    if not go:
        sys.exit(f"{sys.argv[1]}: no BenchmarkSgemm lines with GFLOP/s")
    shapes = []
    for (_, _, m, n, k, layout) in go:
        if (m, n, k, layout) not in shapes:
            shapes.append((m, n, k, layout))

    blas = {}
    for t in THREADS:
        env = {key: v for key, v in os.environ.items() if key not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env["OPENBLAS_NUM_THREADS"] = str(t)
        res = json.loads(subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(shapes)],
            env=env, check=True, capture_output=True, text=True).stdout)
        for lib in res["blas"]:
            print(f"threads={t}: numpy calls {lib.get('internal_api')} {lib.get('version')} "
                  f"({lib.get('architecture')}, {lib.get('num_threads')} threads) from {lib.get('filepath')}")
            if lib.get("internal_api") != "openblas" or lib.get("num_threads") != t:
                sys.exit("numpy is not running OpenBLAS with the requested thread count")
        blas[t] = res["gflops"]

    ours = [i for i in impls if i != "gonum"]
    head = ["threads", "shape", "layout"] + impls + ["openblas"] + [f"{i}/openblas" for i in ours]
    rows = []
    for t in THREADS:
        for m, n, k, layout in shapes:
            ob = blas[t][f"{m}x{n}x{k}/{layout}"]
            row = [str(t), f"{m}x{n}x{k}", layout]
            for i in impls:
                v = go.get((i, t, m, n, k, layout))
                row.append("-" if v is None else f"{v:.1f}")
            row.append(f"{ob:.1f}")
            for i in ours:
                v = go.get((i, t, m, n, k, layout))
                row.append("-" if v is None else f"{v / ob:.2f}")
            rows.append(row)
    print("\nGFLOP/s (median over runs; shape is m×n×k of C[m×n] = op(A)·op(B))\n")
    widths = [max(len(r[c]) for r in rows + [head]) for c in range(len(head))]
    for r in [head] + rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))


if __name__ == "__main__":
    main()
