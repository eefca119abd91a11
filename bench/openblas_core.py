#!/usr/bin/python3
"""Which OpenBLAS kernels the Python peers run with: numpy_sgemm.py,
torch_trainstep.py and side_by_side.py all take them from here.

Debian's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) picks its kernels, its
"core", from cpuid when it loads, and on CPUs newer than it knows falls back
to older ones (Prescott's SSE3 kernels, a fraction of what the CPU can do): a
peer timed so would flatter fastvae. choose() asks the library which core it
took (openblas_get_corename through ctypes) and, when that core is older than
the CPU's vector ISA (Prescott, Nehalem, Sandybridge... on a CPU with AVX-512
or AVX2), tries the cores of that ISA through OPENBLAS_CORETYPE: SkylakeX,
Cooperlake (with AVX-512 BF16) and Haswell on AVX-512, Haswell and Zen on
AVX2. Each candidate is run in a child process, its float32 product checked
once against float64 (see check_product for the bound), and timed on one
thread at a VAE shape and at 1024³; the fastest is kept. A core as new as the
CPU is kept as OpenBLAS chose it, unless --always (or always=True) asks for
the trial anyway.

The choice is per OpenBLAS build, "pthreads" or "openmp" (Debian's
libopenblas0-pthread and libopenblas0-openmp, selected with LD_LIBRARY_PATH
so that what the alternatives system points at does not matter), and env()
makes the environment a peer's child process runs in: the build, the core,
and the thread count in OPENBLAS_NUM_THREADS and OMP_NUM_THREADS, with the
caller's own OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed.

Usage: openblas_core.py [--build pthreads,openmp] [--always] [--json FILE]
       openblas_core.py --compare [--build ...]

The first prints the choice for each build (and with --json writes them for
bench/run.sh, which chooses once per run and hands the file to the peers).
--compare times every candidate core, OpenBLAS's own first, at the two shapes
on 1 and 2 threads, and prints a table.
"""

import argparse
import ctypes
import json
import math
import os
import subprocess
import sys
import time

BUILDS = {
    "pthreads": "/usr/lib/x86_64-linux-gnu/openblas-pthread",
    "openmp": "/usr/lib/x86_64-linux-gnu/openblas-openmp",
}
PACKAGES = {"pthreads": "libopenblas0-pthread", "openmp": "libopenblas0-openmp"}

# The vector ISA of each OpenBLAS 0.3.21 x86-64 core that is not SSE-only.
CORE_ISA = {
    "SkylakeX": "avx512", "Cooperlake": "avx512", "SapphireRapids": "avx512",
    "Haswell": "avx2", "Zen": "avx2",
    "Sandybridge": "avx", "Bulldozer": "avx", "Piledriver": "avx", "Steamroller": "avx", "Excavator": "avx",
}
ISA_RANK = {"sse": 0, "avx": 1, "avx2": 2, "avx512": 3}
ISA_NAME = {"sse": "SSE", "avx": "AVX", "avx2": "AVX2", "avx512": "AVX-512"}

# The products a core is timed on: the largest of the VAE's training step
# (the encoder's forward pass) and a square one, as BenchmarkSgemm names them.
SHAPES = [(128, 400, 784, "NT"), (1024, 1024, 1024, "NN")]
# A later candidate replaces the fastest so far only when faster by more than
# this: equal kernels (SkylakeX and Cooperlake share their SGEMM ones) must
# not flip from run to run with the noise of a shared machine.
MARGIN = 0.03


def cpu():
    """Returns the CPU's name and vector ISA from /proc/cpuinfo: avx512 (the
    Skylake-X set, F, DQ, BW and VL, that SkylakeX's kernels use), avx2
    (with FMA), avx or sse; and whether it has AVX-512 BF16 (Cooperlake's)."""
    flags, name, family, model = set(), "unknown CPU", "?", "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key, val = key.strip(), val.strip()
                if key == "flags" and not flags:
                    flags = set(val.split())
                elif key == "model name" and name == "unknown CPU":
                    name = val
                elif key == "cpu family" and family == "?":
                    family = val
                elif key == "model" and model == "?":
                    model = val
    except OSError:
        pass
    if {"avx512f", "avx512dq", "avx512bw", "avx512vl"} <= flags:
        isa = "avx512"
    elif {"avx2", "fma"} <= flags:
        isa = "avx2"
    elif "avx" in flags:
        isa = "avx"
    else:
        isa = "sse"
    return {"name": f"{name} (family {family} model {model})", "isa": isa, "bf16": "avx512_bf16" in flags}


def candidates(isa, bf16):
    """The cores to try on a CPU of the ISA, in order of preference."""
    if isa == "avx512":
        return ["SkylakeX"] + (["Cooperlake"] if bf16 else []) + ["Haswell"]
    if isa == "avx2":
        return ["Haswell", "Zen"]
    return []


def env(build, threads, core=None, base=None):
    """The environment of a child process that runs OpenBLAS's build on
    threads threads with core (None: OpenBLAS's own choice)."""
    e = dict(os.environ if base is None else base)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        e.pop(k, None)
    e["OPENBLAS_NUM_THREADS"] = str(threads)
    e["OMP_NUM_THREADS"] = str(threads)
    e["LD_LIBRARY_PATH"] = BUILDS[build] + (":" + e["LD_LIBRARY_PATH"] if e.get("LD_LIBRARY_PATH") else "")
    if core:
        e["OPENBLAS_CORETYPE"] = core
    return e


def child_env(choice, threads, base=None):
    """env() for a peer running with a choice of choose()."""
    return env(choice["build"], threads, choice["coretype"], base)


def loaded():
    """Describes the OpenBLAS this process has loaded (import numpy or
    torch first): its file, version, build (threading), core and threads,
    from the library itself through ctypes. None when there is none."""
    path = None
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if "libopenblas" in os.path.basename(p):
                path = p
                break
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_get_config.restype = ctypes.c_char_p
    config = lib.openblas_get_config().decode()
    words = config.split()
    return {
        "path": path,
        "version": words[1] if len(words) > 1 and words[0] == "OpenBLAS" else config,
        "build": {0: "sequential", 1: "pthreads", 2: "openmp"}.get(lib.openblas_get_parallel(), "?"),
        "core": lib.openblas_get_corename().decode(),
        "threads": lib.openblas_get_num_threads(),
    }


def operands(np, rng, m, n, k, layout):
    """A (m×k) and B (k×n), float32, each a transposed view of a row-major
    array where layout says T, as BLAS callers hand them to sgemm."""
    a = rng.standard_normal((k, m), dtype=np.float32).T if layout[0] == "T" else rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((n, k), dtype=np.float32).T if layout[1] == "T" else rng.standard_normal((k, n), dtype=np.float32)
    return a, b


def check_product(np, rng, m, n, k, layout):
    """Returns max |C32 − C| / bound over the elements of one float32 product
    by OpenBLAS (numpy.matmul), with C computed in float64 by numpy's own
    loops (einsum, no BLAS, so a broken core cannot agree with itself).

    The bound is the classical one for a sum of k products in float32, in
    any order and with or without FMA: |C32 − C| ≤ γ_k · (|A|·|B|), with
    γ_k = k·u / (1 − k·u) and u = 2⁻²⁴; C's own error is some 2²⁹ times
    smaller. Correct kernels stay well below 1 (typically ~0.01: errors grow
    as √k, the bound as k); wrong ones land far above it."""
    a, b = operands(np, rng, m, n, k, layout)
    c32 = np.matmul(a, b).astype(np.float64)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    c = np.einsum("ik,kj->ij", a64, b64)
    mag = np.einsum("ik,kj->ij", np.abs(a64), np.abs(b64))
    u = 2.0 ** -24
    gamma = k * u / (1 - k * u)
    return float(np.max(np.abs(c32 - c) / (gamma * mag)))


def calibrate(f, target):
    """Calls f once to warm it up, then returns the smallest power of two of
    calls that takes at least target seconds."""
    f()
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            f()
        if time.perf_counter() - t0 >= target:
            return reps
        reps *= 2


def time_product(np, rng, m, n, k, layout, target=0.05, runs=5):
    """GFLOP/s of numpy.matmul at the shape: the median of runs timings of
    at least target seconds each."""
    import statistics
    a, b = operands(np, rng, m, n, k, layout)
    c = np.empty((m, n), dtype=np.float32)
    reps = calibrate(lambda: np.matmul(a, b, out=c), target)
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        rates.append(2.0 * m * n * k * reps / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)


def trial(check):
    """Runs in the child: what OpenBLAS loaded, the check's error against
    its bound (when check), and GFLOP/s at SHAPES."""
    import numpy as np
    rng = np.random.default_rng(1)
    out = {"loaded": loaded()}
    if check:
        # A VAE shape and one that is no multiple of any kernel's tile.
        out["check"] = max(check_product(np, rng, 128, 400, 784, "NT"), check_product(np, rng, 67, 45, 301, "TN"))
    out["gflops"] = {shape_name(s): time_product(np, rng, *s) for s in SHAPES}
    return out


def shape_name(s):
    return f"{s[0]}x{s[1]}x{s[2]}/{s[3]}"


def run_trial(build, core, threads=1, check=True, python=None):
    """trial() in a child process on build with core (None: OpenBLAS's
    own) and threads threads."""
    p = subprocess.run([python or sys.executable, os.path.abspath(__file__), "--trial", json.dumps(check)],
                       env=env(build, threads, core), capture_output=True, text=True)
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()
        raise RuntimeError(f"OpenBLAS {build} build with core {core or 'of its own choice'}: "
                           f"{err[-1] if err else 'exit status %d' % p.returncode}")
    return json.loads(p.stdout)


def score(res):
    """One figure per trial: the geometric mean of its GFLOP/s."""
    v = list(res["gflops"].values())
    return math.exp(sum(math.log(x) for x in v) / len(v))


def choose(build="pthreads", always=False, python=None, log=None):
    """Returns the core the peers should run build with, as a dict:
    build, library, version, cpu, isa, default (OpenBLAS's own core), core
    (the one chosen), coretype (what OPENBLAS_CORETYPE must be, None for
    OpenBLAS's own), tried ({core: GFLOP/s, the geometric mean at SHAPES on
    one thread}), check ({core: error / bound}) and why."""
    if not os.path.isdir(BUILDS[build]):
        raise RuntimeError(f"no OpenBLAS {build} build in {BUILDS[build]} (Debian's {PACKAGES[build]}: make deps-bench)")
    c = cpu()
    log = log or (lambda msg: None)
    own = run_trial(build, None, check=True, python=python)
    lib = own["loaded"]
    if lib is None:
        raise RuntimeError(f"numpy loaded no OpenBLAS with LD_LIBRARY_PATH={BUILDS[build]}")
    default = lib["core"]
    choice = {"build": build, "library": lib["path"], "version": lib["version"], "cpu": c["name"], "isa": c["isa"],
              "default": default, "core": default, "coretype": None,
              "tried": {default: round(score(own), 1)}, "check": {default: round(own["check"], 4)}}
    if own["check"] > 1:
        raise RuntimeError(f"OpenBLAS {build} build, core {default}: float32 product off by {own['check']:.3g}× "
                           f"the error bound against float64")
    older = ISA_RANK[CORE_ISA.get(default, "sse")] < ISA_RANK[c["isa"]]
    if not older and not always:
        choice["why"] = f"OpenBLAS's own choice, as new as this CPU's {ISA_NAME[c['isa']]}"
        return choice
    # In order of preference: a later core wins only by more than MARGIN.
    # OpenBLAS's own comes last when it is older than the CPU, first when
    # the trial runs anyway (always).
    scores = [] if older else [(default, score(own))]
    for core in candidates(c["isa"], c["bf16"]):
        if core == default:
            continue
        try:
            res = run_trial(build, core, check=True, python=python)
        except RuntimeError as e:
            log(f"openblas_core: {e}: left out")
            continue
        took = res["loaded"]["core"]
        if took != core:
            log(f"openblas_core: OPENBLAS_CORETYPE={core} gave core {took}: left out")
            continue
        choice["tried"][core] = round(score(res), 1)
        choice["check"][core] = round(res["check"], 4)
        if res["check"] > 1:
            log(f"openblas_core: core {core}: float32 product off by {res['check']:.3g}× the bound: left out")
            continue
        scores.append((core, score(res)))
    if older:
        scores.append((default, score(own)))
    best, best_score = scores[0]
    for core, v in scores[1:]:
        if v > best_score * (1 + MARGIN):
            best, best_score = core, v
    tried = ", ".join(f"{k} {v:g}" for k, v in sorted(choice["tried"].items(), key=lambda kv: -kv[1]))
    if best != default:
        choice["core"], choice["coretype"] = best, best
        choice["why"] = (f"OPENBLAS_CORETYPE={best}; OpenBLAS alone takes {default} here; "
                         f"1-thread GFLOP/s (geometric mean of {', '.join(shape_name(s) for s in SHAPES)}): {tried}")
    else:
        choice["why"] = (f"OpenBLAS's own choice, kept: no other core of this CPU's ISA is {MARGIN:.0%} faster; "
                         f"1-thread GFLOP/s (geometric mean of {', '.join(shape_name(s) for s in SHAPES)}): {tried}")
    return choice


def describe(choice):
    """A line for the reports: the build, the core and why."""
    return f"OpenBLAS {choice['version']} {choice['build']} build, core {choice['core']} ({choice['why']})"


def load(path, build):
    """The choice for build from a file main() wrote with --json; None when
    path is empty, so that the caller chooses itself."""
    if not path:
        return None
    with open(path) as f:
        choices = json.load(f)
    if build not in choices:
        raise RuntimeError(f"{path}: no choice for the {build} build")
    return choices[build]


def compare(builds):
    """Prints the GFLOP/s of every candidate core at SHAPES, 1 and 2 threads."""
    c = cpu()
    print(f"{c['name']}, {ISA_NAME[c['isa']]}{' with BF16' if c['bf16'] else ''}")
    for build in builds:
        if not os.path.isdir(BUILDS[build]):
            print(f"{build}: not installed ({PACKAGES[build]})")
            continue
        rows = []
        for core in [None] + candidates(c["isa"], c["bf16"]):
            cells = []
            for threads in (1, 2):
                res = run_trial(build, core, threads, check=threads == 1)
                if threads == 1:
                    name = res["loaded"]["core"] + (" (OpenBLAS's own)" if core is None else "")
                    check = res["check"]
                cells += [f"{res['gflops'][shape_name(s)]:.1f}" for s in SHAPES]
            rows.append([name] + cells + [f"{check:.3f}"])
        head = ["core"] + [f"{t}t {shape_name(s)}" for t in (1, 2) for s in SHAPES] + ["err/bound"]
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
        print(f"\nOpenBLAS {build} build, GFLOP/s (median of 5), check of the float32 product against float64:")
        for r in [head] + rows:
            print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))


def split_choices(prog, flag, value, known):
    """The comma list value of the command line flag of prog; exits with
    status 2 and a line naming the flag unless every item is a key of
    known."""
    items = value.split(",")
    for item in items:
        if item not in known:
            print(f"{prog}: {flag} {item}: not one of {', '.join(known)}", file=sys.stderr)
            sys.exit(2)
    return items


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--trial":
        json.dump(trial(json.loads(sys.argv[2])), sys.stdout)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="pthreads,openmp", help="comma list of OpenBLAS builds: pthreads, openmp")
    ap.add_argument("--always", action="store_true", help="try the candidate cores even when OpenBLAS's own is as new as the CPU")
    ap.add_argument("--json", help="write the choices to this file (for bench/run.sh)")
    ap.add_argument("--compare", action="store_true", help="time every candidate core and print a table")
    args = ap.parse_args()
    builds = split_choices("openblas_core.py", "--build", args.build, BUILDS)
    try:
        if args.compare:
            compare(builds)
            return
        choices = {}
        for b in builds:
            choices[b] = choose(b, always=args.always, log=lambda m: print(m, file=sys.stderr))
            print(describe(choices[b]))
    except RuntimeError as e:
        print(f"openblas_core.py: {e}", file=sys.stderr)
        sys.exit(1)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(choices, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
