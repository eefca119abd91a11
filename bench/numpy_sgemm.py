#!/usr/bin/python3
"""Benchmarks fastvae's Sgemm, gonum's and numpy's float32 matmul (OpenBLAS)
side by side, interleaved, and prints GFLOP/s with fastvae/OpenBLAS ratios.

Usage: numpy_sgemm.py [--count N] [--benchtime T] [--raw FILE]
                      [--openblas-choice FILE] BENCH_TEST_BINARY
       numpy_sgemm.py --gobench GO_BENCH_OUTPUT [--bench REGEXP]
                      [--benchtime 1s|Nx] [--procs N] [--openblas-choice FILE]

BENCH_TEST_BINARY is the bench module's test binary (go test -c). For each
round, shape and thread count in turn, the script runs BenchmarkSgemm for
every implementation at that shape and thread count, then times numpy at the
same shape and thread count, so the two measurements of a row are taken
seconds apart: on a machine shared with other work, ratios taken minutes apart
mean little. Each round starts with BenchmarkFMAPeak at 1 and 2 threads, and
a last table gives every figure as a percentage of that peak (fastvae's
vector implementations against the probe of their own ISA, gonum, generic
and OpenBLAS against the fastest). Each table cell is the median over the
rounds. --raw saves the Go benchmark output (benchstat reads it).

OpenBLAS runs in two child processes, on Debian's pthreads build, with
OPENBLAS_NUM_THREADS (and OMP_NUM_THREADS) 1 and 2 and the kernels ("core")
that bench/openblas_core.py chooses for this CPU: OpenBLAS's own choice
unless that is older than the CPU, then the fastest of the cores of its ISA
(the caller's OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are not passed on).
--openblas-choice takes a choice made before (bench/run.sh makes one per
run); without it the script chooses. Each child reports through threadpoolctl
which BLAS numpy calls, with how many threads, and through ctypes which core
OpenBLAS runs.

With --gobench (what `make bench` uses) it prints instead one Go benchmark
line per shape and thread count found in GO_BENCH_OUTPUT, named as
BenchmarkSgemm names its sub-benchmarks with impl=openblas, so that the
line sits in the same results file and benchstat compares it:

    BenchmarkSgemm/impl=openblas/threads=1/shape=1024x1024x1024/layout=NN-2  64  7160000 ns/op  150.0 GFLOP/s  152.3 GFLOP/cpu-s

after a "# peer openblas:" comment naming numpy, the OpenBLAS build, its
core (and why) and the thread setting. Each line is one timing of about
--benchtime (as go test's -benchtime), so run it once per round, as the Go
benchmarks run, to get -count samples.
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

import openblas_core

THREADS = (1, 2)
METRICS = ("GFLOP/s", "GFLOP/cpu-s")
# The shapes of BenchmarkSgemm (bench/sgemm_test.go), in its order.
SHAPES = [
    (128, 400, 784, "NT"), (400, 784, 128, "TN"),
    (128, 40, 400, "NT"), (128, 400, 40, "NN"), (40, 400, 128, "TN"),
    (128, 20, 400, "NT"), (128, 400, 20, "NN"), (20, 400, 128, "TN"),
    (128, 400, 20, "NT"), (128, 20, 400, "NN"), (400, 20, 128, "TN"),
    (128, 784, 400, "NT"), (128, 400, 784, "NN"), (784, 400, 128, "TN"),
    (256, 256, 256, "NN"), (512, 512, 512, "NN"), (1024, 1024, 1024, "NN"), (2048, 2048, 2048, "NN"),
]
LINE = re.compile(r"^BenchmarkSgemm/impl=(\w+)/threads=(\d+)/shape=(\d+)x(\d+)x(\d+)/layout=([NT]{2})(?:-\d+)?\s")
PEAK = re.compile(r"^BenchmarkFMAPeak/impl=(\w+)/threads=(\d+)(?:-\d+)?\s")
# numpy runs OpenBLAS's pthreads build (Debian's default for it).
BUILD = "pthreads"


def child():
    """Serves timings: reads "m n k layout" lines, answers with JSON lines of
    GFLOP/s against wall and CPU time (medians of five runs of ≥ 0.1 s)."""
    import numpy as np
    from threadpoolctl import threadpool_info

    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    print(json.dumps({"blas": info, "loaded": openblas_core.loaded()}), flush=True)
    rng = np.random.default_rng(1)
    for line in sys.stdin:
        m, n, k, layout = line.split()
        m, n, k = int(m), int(n), int(k)
        a, b = openblas_core.operands(np, rng, m, n, k, layout)
        c = np.empty((m, n), dtype=np.float32)
        reps = openblas_core.calibrate(lambda: np.matmul(a, b, out=c), 0.1)
        flop = 2.0 * m * n * k * reps / 1e9
        wall, cpu = [], []
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(reps):
                np.matmul(a, b, out=c)
            wall.append(flop / (time.perf_counter() - t0))
            cpu.append(flop / max(time.process_time() - c0, 1e-9))
        print(json.dumps({"GFLOP/s": statistics.median(wall), "GFLOP/cpu-s": statistics.median(cpu)}), flush=True)


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
        a, b = openblas_core.operands(np, np.random.default_rng(1), m, n, k, layout)
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
    return {"blas": info, "loaded": openblas_core.loaded(), "runs": out}


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

    choice = openblas_choice(args.openblas_choice)
    header = False
    for t in threads:
        todo = [s for s in shapes if matches(args.bench, name(t, *s))]
        if not todo:
            continue
        res = json.loads(subprocess.run(
            [sys.executable, __file__, "--child-once", json.dumps([todo, benchtime])],
            env=openblas_core.child_env(choice, t), check=True, capture_output=True, text=True).stdout)
        check_child(res["blas"], res["loaded"], choice, t)
        if not header:
            # A comment for the reader (benchfmt skips it), then the package
            # whose table these lines belong in.
            print(f"# peer openblas: {peer(choice, res['loaded'])}")
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


def openblas_choice(path):
    """The OpenBLAS core to run: from the file bench/run.sh wrote, or
    chosen now (bench/openblas_core.py)."""
    try:
        return openblas_core.load(path, BUILD) or openblas_core.choose(BUILD, log=lambda m: print(m, file=sys.stderr))
    except (OSError, ValueError, RuntimeError) as e:
        sys.exit(f"numpy_sgemm.py: {e}")


def check_child(blas, lib, choice, threads):
    """Exits unless the child's numpy ran OpenBLAS's chosen build and core
    on threads threads."""
    for i in blas:
        if i.get("internal_api") != "openblas" or i.get("num_threads") != threads:
            sys.exit(f"numpy_sgemm.py: numpy is not running OpenBLAS with {threads} threads: {i}")
    if not lib or lib["core"] != choice["core"] or lib["build"] != choice["build"]:
        sys.exit(f"numpy_sgemm.py: numpy runs {lib}, not OpenBLAS's {choice['build']} build with core {choice['core']}")


def peer(choice, lib):
    """What the openblas column is: numpy, the OpenBLAS build and core, the
    library file and the thread setting."""
    return (f"numpy {numpy_version()} calling {openblas_core.describe(choice)}, {lib['path']}; "
            f"OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=threads=")


def start_child(threads, choice):
    p = subprocess.Popen([sys.executable, __file__, "--child"], env=openblas_core.child_env(choice, threads), text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    info = json.loads(p.stdout.readline())
    check_child(info["blas"], info["loaded"], choice, threads)
    lib = info["loaded"]
    print(f"threads={threads}: numpy calls OpenBLAS {lib['version']} ({lib['build']} build, core {lib['core']}, "
          f"{lib['threads']} threads) from {lib['path']}")
    return p


def run_bench(binary, pattern, benchtime, line):
    """Runs the benchmarks of the test binary that pattern selects, once for
    benchtime, and returns their result lines (those that line matches)."""
    binary = os.path.abspath(binary)
    out = subprocess.run([binary, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime,
                          "-test.count", "1"], check=True, capture_output=True, text=True,
                         cwd=os.path.dirname(binary)).stdout
    return [s for s in out.splitlines() if line.match(s)]


def run_peak(binary, benchtime):
    """BenchmarkFMAPeak's lines at the thread counts of THREADS."""
    pattern = "^BenchmarkFMAPeak$/^impl=/^threads=(" + "|".join(str(t) for t in THREADS) + ")$"
    return run_bench(binary, pattern, benchtime, PEAK)


def parse_peak(lines):
    """Returns {(impl, threads): GFLOP/s}."""
    vals = {}
    for line in lines:
        mt = PEAK.match(line)
        fields = line.split()
        for i, unit in enumerate(fields[1:], 1):
            if unit == "GFLOP/s":
                vals[(mt.group(1), int(mt.group(2)))] = float(fields[i - 1])
    return vals


def run_go(binary, threads, shape, benchtime):
    m, n, k, layout = shape
    pattern = f"^BenchmarkSgemm$/^impl=/^threads={threads}$/^shape={m}x{n}x{k}$/^layout={layout}$"
    return run_bench(binary, pattern, benchtime, LINE)


def parse(lines):
    """Returns {(metric, impl, threads, m, n, k, layout): value}."""
    vals = {}
    for line in lines:
        mt = LINE.match(line)
        impl, threads = mt.group(1), int(mt.group(2))
        m, n, k = (int(mt.group(i)) for i in (3, 4, 5))
        fields = line.split()
        for i, unit in enumerate(fields[1:], 1):
            if unit in METRICS:
                vals[(unit, impl, threads, m, n, k, mt.group(6))] = float(fields[i - 1])
    return vals


def main():
    if sys.argv[1:] == ["--child"]:
        child()
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--child-once":
        shapes, benchtime = json.loads(sys.argv[2])
        json.dump(measure_once([tuple(s) for s in shapes], benchtime), sys.stdout)
        return
    if sys.argv[1:2] == ["--gobench"]:
        ap = argparse.ArgumentParser(usage=__doc__)
        ap.add_argument("--gobench", required=True)
        ap.add_argument("--bench", default=".")
        ap.add_argument("--benchtime", default="1s")
        ap.add_argument("--procs", type=int, default=os.cpu_count())
        ap.add_argument("--openblas-choice", help="the OpenBLAS core chosen by bench/openblas_core.py --json")
        gobench(ap.parse_args())
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1, help="rounds over all shapes (medians are reported)")
    ap.add_argument("--benchtime", default="1s", help="-test.benchtime of each Go benchmark")
    ap.add_argument("--raw", help="file to save the Go benchmark output in")
    ap.add_argument("--openblas-choice", help="the OpenBLAS core chosen by bench/openblas_core.py --json")
    ap.add_argument("binary")
    args = ap.parse_args()

    choice = openblas_choice(args.openblas_choice)
    print(f"openblas: {openblas_core.describe(choice)}")
    children = {t: start_child(t, choice) for t in THREADS}
    runs, impls, raw, peaks = {}, [], [], {}
    for r in range(args.count):
        lines = run_peak(args.binary, args.benchtime)
        raw += lines
        for key, v in parse_peak(lines).items():
            peaks.setdefault(key, []).append(v)
        for shape in SHAPES:
            for t in THREADS:
                lines = run_go(args.binary, t, shape, args.benchtime)
                raw += lines
                for key, v in parse(lines).items():
                    runs.setdefault(key, []).append(v)
                    if key[1] not in impls:
                        impls.append(key[1])
                children[t].stdin.write("%d %d %d %s\n" % shape)
                children[t].stdin.flush()
                for unit, v in json.loads(children[t].stdout.readline()).items():
                    runs.setdefault((unit, "openblas", t) + shape, []).append(v)
            print(f"round {r + 1}/{args.count}: {shape[0]}x{shape[1]}x{shape[2]} {shape[3]} done", file=sys.stderr, flush=True)
    for p in children.values():
        p.stdin.close()
        p.wait()
    if args.raw:
        with open(args.raw, "w") as f:
            f.write("\n".join(raw) + "\n")
    med = {key: statistics.median(v) for key, v in runs.items()}

    ours = [i for i in impls if i != "gonum"]
    for unit, title in (
        ("GFLOP/s", "GFLOP/s against wall time"),
        ("GFLOP/cpu-s", "GFLOP per second of CPU time used by the process (on a shared machine, the speed of an "
                        "idle core; at 2 threads it is efficiency, not speed, and OpenBLAS's spinning workers count)"),
    ):
        head = ["threads", "shape", "layout"] + impls + ["openblas"] + [f"{i}/openblas" for i in ours]
        rows = []
        for t in THREADS:
            for m, n, k, layout in SHAPES:
                cell = lambda impl: med.get((unit, impl, t, m, n, k, layout))
                ob = cell("openblas")
                row = [str(t), f"{m}x{n}x{k}", layout]
                row += ["-" if cell(i) is None else f"{cell(i):.1f}" for i in impls]
                row.append("-" if ob is None else f"{ob:.1f}")
                row += ["-" if cell(i) is None or not ob else f"{cell(i) / ob:.2f}" for i in ours]
                rows.append(row)
        print_table(f"{title}; medians over {args.count} rounds; shape is m×n×k of C[m×n] = op(A)·op(B)", head, rows)
    peak = {key: statistics.median(v) for key, v in peaks.items()}
    if peak:
        # Every implementation without a probe of its own ISA (generic, gonum,
        # OpenBLAS whatever its core) is read against the fastest probe.
        best = max({i for i, _ in peak}, key=lambda i: peak.get((i, 1), 0))
        measured = "; ".join(f"threads={t}: " + ", ".join(f"{i} {v:.1f}" for (i, tt), v in peak.items() if tt == t)
                             for t in THREADS)
        head = ["threads", "shape", "layout"] + impls + ["openblas"]
        rows = []
        for t in THREADS:
            for m, n, k, layout in SHAPES:
                row = [str(t), f"{m}x{n}x{k}", layout]
                for i in impls + ["openblas"]:
                    v, top = med.get(("GFLOP/s", i, t, m, n, k, layout)), peak.get((i if (i, t) in peak else best, t))
                    row.append("-" if v is None or not top else percent(v / top))
                rows.append(row)
        print_table(f"GFLOP/s as a percentage of the FMA peak of this run (BenchmarkFMAPeak medians, GFLOP/s: "
                    f"{measured}), at the same thread count; {', '.join(dict.fromkeys(i for i, _ in peak))} "
                    f"against the probe of their own ISA, the others against {best}", head, rows)
    # Thread scaling from the same rounds.
    print("\n2 threads / 1 thread, wall time:")
    for m, n, k, layout in SHAPES:
        parts = []
        for i in impls + ["openblas"]:
            one, two = med.get(("GFLOP/s", i, 1, m, n, k, layout)), med.get(("GFLOP/s", i, 2, m, n, k, layout))
            if one and two:
                parts.append(f"{i} {two / one:.2f}")
        print(f"  {m}x{n}x{k} {layout}: " + ", ".join(parts))


def print_table(title, head, rows):
    print(f"\n{title}\n")
    widths = [max(len(r[c]) for r in rows + [head]) for c in range(len(head))]
    for r in [head] + rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))


def percent(f):
    """A fraction as a percentage of about two significant digits."""
    v = 100 * f
    return f"{v:.0f}%" if v >= 10 else f"{v:.1f}%" if v >= 1 else f"{v:.2g}%"


if __name__ == "__main__":
    main()
