#!/usr/bin/python3
"""Times numpy's float32 matmul (OpenBLAS) at the shapes of BenchmarkSgemm and
prints GFLOP/s beside fastvae's and gonum's, with fastvae/OpenBLAS ratios.

Usage: numpy_sgemm.py GO_BENCH_OUTPUT
       numpy_sgemm.py --gobench GO_BENCH_OUTPUT [--bench REGEXP]
                      [--benchtime 1s|Nx] [--procs N]

GO_BENCH_OUTPUT is the output of `go test -bench Sgemm` in bench/ (any
-count: the median of the runs is used). Shapes and layouts are read from it.
OpenBLAS is timed in a child process per thread count, started with
OPENBLAS_NUM_THREADS set to 1 and 2 and without OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE, so that OpenBLAS picks its kernels for this CPU itself; the
child checks with threadpoolctl which BLAS numpy really calls.

With --gobench (what `make bench` uses) it prints instead one Go benchmark
line per shape and thread count found in GO_BENCH_OUTPUT, named as
BenchmarkSgemm names its sub-benchmarks with impl=openblas, so that the
line sits in the same results file and benchstat compares it:

    BenchmarkSgemm/impl=openblas/threads=1/shape=1024x1024x1024/layout=NN-2  64  7160000 ns/op  150.0 GFLOP/s  152.3 GFLOP/cpu-s

Each line is one timing of about --benchtime (as go test's -benchtime), so
run it once per round, as the Go benchmarks run, to get -count samples.
--bench filters the names as go test's -bench does (the regexp is split at
unbracketed slashes, one part per name level); --procs is the GOMAXPROCS of
the Go run, printed as the name's -N suffix so that the names match.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

THREADS = (1, 2)
LINE = re.compile(
    r"^BenchmarkSgemm/impl=(\w+)/threads=(\d+)/shape=(\d+)x(\d+)x(\d+)/layout=([NT]{2})(?:-\d+)?\s"
)
METRICS = ("GFLOP/s", "GFLOP/cpu-s")


def parse_go(path):
    """Returns {metric: {(impl, threads, m, n, k, layout): median}} for the
    metrics of METRICS and the implementations in order of appearance."""
    runs, impls = {m: {} for m in METRICS}, []
    with open(path) as f:
        for line in f:
            mt = LINE.match(line)
            if not mt:
                continue
            impl, threads = mt.group(1), int(mt.group(2))
            m, n, k = (int(mt.group(i)) for i in (3, 4, 5))
            key = (impl, threads, m, n, k, mt.group(6))
            fields = line.split()
            for i, unit in enumerate(fields[1:], 1):
                if unit in METRICS:
                    runs[unit].setdefault(key, []).append(float(fields[i - 1]))
            if impl not in impls:
                impls.append(impl)
    return {u: {key: statistics.median(v) for key, v in r.items()} for u, r in runs.items()}, impls


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
    """Runs in the child: times every shape, returns GFLOP/s against wall
    time and against the process's CPU time (medians of five runs of at
    least 0.1 s each) and what threadpoolctl reports."""
    import numpy as np
    from threadpoolctl import threadpool_info

    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    out = {u: {} for u in METRICS}
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
        flop = 2.0 * m * n * k * reps / 1e9
        wall, cpu = [], []
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(reps):
                np.matmul(a, b, out=c)
            wall.append(flop / (time.perf_counter() - t0))
            cpu.append(flop / (time.process_time() - c0))
        out["GFLOP/s"][f"{m}x{n}x{k}/{layout}"] = statistics.median(wall)
        out["GFLOP/cpu-s"][f"{m}x{n}x{k}/{layout}"] = statistics.median(cpu)
    return {"blas": info, "gflops": out}


def measure_once(shapes, benchtime):
    """Runs in the child: times every shape once for about benchtime (a
    duration in seconds, or an int iteration count), as go test times one
    benchmark: the iteration count grows until a run lasts benchtime.
    Returns what threadpoolctl reports and [reps, wall seconds, CPU
    seconds of the process] per shape."""
    import numpy as np
    from threadpoolctl import threadpool_info

    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    out = {}
    for m, n, k, layout in shapes:
        a, b = operands(np, m, n, k, layout)
        c = np.empty((m, n), dtype=np.float32)
        np.matmul(a, b, out=c)  # warm the caches and OpenBLAS's buffers
        reps = benchtime if isinstance(benchtime, int) else 1
        while True:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(reps):
                np.matmul(a, b, out=c)
            t, cpu = time.perf_counter() - t0, time.process_time() - c0
            if isinstance(benchtime, int) or t >= benchtime or reps >= 1_000_000_000:
                break
            # go test's rule: aim 20% past the target, grow at most 100x.
            want = int(benchtime * 1.2 * reps / max(t, 1e-9))
            reps = max(reps + 1, min(want, 100 * reps))
        out[f"{m}x{n}x{k}/{layout}"] = [reps, t, cpu]
    return {"blas": info, "runs": out}


def parse_benchtime(s):
    """Returns go test's -benchtime as seconds (float) or iterations (int)."""
    if s.endswith("x"):
        return int(s[:-1])
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    mt = re.fullmatch(r"([\d.]+)(ns|us|µs|ms|s|m|h)", s)
    if not mt:
        sys.exit(f"bad --benchtime {s!r}")
    return float(mt.group(1)) * units[mt.group(2)]


def split_regexp(pattern):
    """Splits a go test -bench pattern at unbracketed slashes, as the
    testing package does."""
    parts, depth_sq, depth_par, cur, i = [], 0, 0, "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            cur += pattern[i:i + 2]
            i += 2
            continue
        if ch == "[":
            depth_sq += 1
        elif ch == "]" and depth_sq:
            depth_sq -= 1
        elif ch == "(" and not depth_sq:
            depth_par += 1
        elif ch == ")" and not depth_sq and depth_par:
            depth_par -= 1
        elif ch == "/" and not depth_sq and not depth_par:
            parts.append(cur)
            cur = ""
            i += 1
            continue
        cur += ch
        i += 1
    parts.append(cur)
    return parts


def matches(pattern, name):
    """Reports whether go test -bench pattern selects the benchmark name
    (without the Benchmark prefix's sub-name suffix -N): each part of the
    pattern must match the name element at the same level."""
    elems = ("Benchmark" + name).split("/")
    for part, elem in zip(split_regexp(pattern), elems):
        if not re.search(part, elem):
            return False
    return True


def gobench(args):
    """Prints Go benchmark lines for OpenBLAS at the shapes and thread
    counts of the BenchmarkSgemm lines in args.gobench."""
    shapes, threads = [], []
    with open(args.gobench) as f:
        for line in f:
            mt = LINE.match(line)
            if not mt or mt.group(1) == "openblas":
                continue
            shape = tuple(int(mt.group(i)) for i in (3, 4, 5)) + (mt.group(6),)
            if shape not in shapes:
                shapes.append(shape)
            if int(mt.group(2)) not in threads:
                threads.append(int(mt.group(2)))
    benchtime = parse_benchtime(args.benchtime)
    suffix = f"-{args.procs}" if args.procs != 1 else ""

    def name(t, m, n, k, layout):
        return f"Sgemm/impl=openblas/threads={t}/shape={m}x{n}x{k}/layout={layout}"

    header = False
    for t in threads:
        todo = [s for s in shapes if matches(args.bench, name(t, *s))]
        if not todo:
            continue
        env = {key: v for key, v in os.environ.items() if key not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env["OPENBLAS_NUM_THREADS"] = str(t)
        res = json.loads(subprocess.run(
            [sys.executable, __file__, "--child-once", json.dumps([todo, benchtime])],
            env=env, check=True, capture_output=True, text=True).stdout)
        for lib in res["blas"]:
            if lib.get("internal_api") != "openblas" or lib.get("num_threads") != t:
                sys.exit(f"numpy is not running OpenBLAS with {t} threads: {lib}")
        if not header:
            # A comment for the reader (benchfmt skips it), then the package
            # whose table these lines belong in.
            lib = res["blas"][0]
            print(f"# peer openblas: numpy {numpy_version()} calling {lib.get('internal_api')} "
                  f"{lib.get('version')} ({lib.get('architecture')}) from {lib.get('filepath')}")
            print("pkg: github.com/fastvae/fastvae/bench")
            header = True
        for m, n, k, layout in todo:
            reps, secs, cpu = res["runs"][f"{m}x{n}x{k}/{layout}"]
            flop = 2.0 * m * n * k * reps / 1e9
            line = f"Benchmark{name(t, m, n, k, layout)}{suffix}\t{reps}\t{secs / reps * 1e9:.0f} ns/op\t{flop / secs:.2f} GFLOP/s"
            if cpu > 0:
                line += f"\t{flop / cpu:.2f} GFLOP/cpu-s"
            print(line, flush=True)


def numpy_version():
    import numpy
    return numpy.__version__


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        shapes = [tuple(s) for s in json.loads(sys.argv[2])]
        json.dump(measure(shapes), sys.stdout)
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--child-once":
        shapes, benchtime = json.loads(sys.argv[2])
        json.dump(measure_once([tuple(s) for s in shapes], benchtime), sys.stdout)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--gobench":
        ap = argparse.ArgumentParser(usage=__doc__)
        ap.add_argument("--gobench", required=True)
        ap.add_argument("--bench", default=".")
        ap.add_argument("--benchtime", default="1s")
        ap.add_argument("--procs", type=int, default=os.cpu_count())
        gobench(ap.parse_args())
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    gos, impls = parse_go(sys.argv[1])
    if not gos["GFLOP/s"]:
        sys.exit(f"{sys.argv[1]}: no BenchmarkSgemm lines with GFLOP/s")
    shapes = []
    for (_, _, m, n, k, layout) in gos["GFLOP/s"]:
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
    for unit, title in (
        ("GFLOP/s", "GFLOP/s against wall time"),
        ("GFLOP/cpu-s", "GFLOP per second of CPU time used by the process (on a shared machine, "
                        "the speed of an idle core; at 2 threads, OpenBLAS's spinning workers count too)"),
    ):
        go = gos[unit]
        if not go:
            continue
        head = ["threads", "shape", "layout"] + impls + ["openblas"] + [f"{i}/openblas" for i in ours]
        rows = []
        for t in THREADS:
            for m, n, k, layout in shapes:
                ob = blas[t][unit][f"{m}x{n}x{k}/{layout}"]
                row = [str(t), f"{m}x{n}x{k}", layout]
                for i in impls:
                    v = go.get((i, t, m, n, k, layout))
                    row.append("-" if v is None else f"{v:.1f}")
                row.append(f"{ob:.1f}")
                for i in ours:
                    v = go.get((i, t, m, n, k, layout))
                    row.append("-" if v is None else f"{v / ob:.2f}")
                rows.append(row)
        print(f"\n{title}; medians over runs; shape is m×n×k of C[m×n] = op(A)·op(B)\n")
        widths = [max(len(r[c]) for r in rows + [head]) for c in range(len(head))]
        for r in [head] + rows:
            print("  ".join(v.rjust(w) for v, w in zip(r, widths)))


if __name__ == "__main__":
    main()
