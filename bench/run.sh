#!/usr/bin/env bash
# bench/run.sh runs every benchmark of the repository (the root module's
# packages and the bench/ module) and the peers that run here (numpy's
# OpenBLAS, the PyTorch example) into one Go benchmark file for benchstat.
# `make bench` calls it; the settings come from the environment:
#
#   COUNT      rounds (default 10): every benchmark runs once per round
#   BENCH      go test -bench regexp (default .), also applied to the peers
#   BENCHTIME  go test -benchtime (default 0.5s), also the peers' target time
#   PROCS      GOMAXPROCS for every benchmark binary (default: nproc)
#   PYTHON     the Python with numpy and torch (default /usr/bin/python3)
#   PEERS      set to 0 to leave the Python peers out (numpy_sgemm.py for
#              BenchmarkSgemm, torch_trainstep.py for BenchmarkTrainStep)
#   OUT        the output file (default bench/results/DATE-COMMIT.txt)
#
# Rounds are interleaved (round 1 of everything, then round 2, ...) rather
# than -count=N back to back, so that a burst of load from other processes
# spreads over all benchmarks instead of skewing a few: this is what
# benchstat's documentation recommends, and it matters on a shared machine.
# The test binaries are built once, before the first round.
#
# The file starts with configuration lines benchstat reads as file-level
# keys (go, commit, date, count, benchtime, procs, cpu-model, loadavg); each test binary
# then prints goos, goarch, pkg and cpu as go test does. The kernel thread
# counts are the benchmarks' own threads= sub-benchmarks; GOMAXPROCS is
# pinned with -test.cpu so the -N suffix of every name is the same.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
COUNT=${COUNT:-10}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-0.5s}
PROCS=${PROCS:-$(nproc)}
PYTHON=${PYTHON:-/usr/bin/python3}
PEERS=${PEERS:-1}
# The peers import each other from bench/; their byte code would be
# untracked files, and the next run's commit would read as -dirty.
export PYTHONDONTWRITEBYTECODE=1

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Untracked files in bench/results are this script's own output, not a change.
if [ -n "$(git status --porcelain -- . ':!bench/results' 2>/dev/null)" ]; then
	commit+=-dirty
fi
day=$(date -u +%Y-%m-%d)
if [ -z "${OUT:-}" ]; then
	OUT=bench/results/$day-$commit.txt
	i=2
	while [ -e "$OUT" ]; do
		OUT=bench/results/$day-$commit-$i.txt
		i=$((i + 1))
	done
fi
mkdir -p "$(dirname "$OUT")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# build compiles the test binary of every package with tests in the module
# at $1, and records "binary dir" pairs in $tmp/binaries.
build() {
	local mod=$1 i=0 pkg dir
	while read -r pkg dir; do
		[ -n "$pkg" ] || continue
		i=$((i + 1))
		local bin=$tmp/$(basename "$mod")-$i.test
		(cd "$mod" && "$GO" test -c -o "$bin" "$pkg")
		# go test -c writes nothing for a package without test files.
		if [ -e "$bin" ]; then
			echo "$bin $dir" >>"$tmp/binaries"
		fi
	done < <(cd "$mod" && "$GO" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' ./...)
}
echo "bench: building the test binaries" >&2
build .
build bench

# Configuration lines for the whole file. go test prints goos, goarch, pkg
# and cpu itself; "go:" names the toolchain that built the binaries.
{
	echo "go: $("$GO" env GOVERSION)"
	echo "commit: $commit"
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "count: $COUNT"
	echo "benchtime: $BENCHTIME"
	echo "procs: $PROCS"
	# The brand string alone does not tell one core from another (a Zen 4
	# and a Zen 5 EPYC both read "AMD EPYC"); the family and model do.
	echo "cpu-model: $(awk -F': ' '/^cpu family/ {f=$2} /^model\t/ {m=$2} END {if (f != "") printf "family %s model %s", f, m; else printf "unknown"}' /proc/cpuinfo 2>/dev/null)"
	echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
} >"$tmp/out"

# gonum runs inside BenchmarkSgemm; name its version for the report.
echo "# peer gonum: $(cd bench && "$GO" list -m gonum.org/v1/gonum) (blas/gonum Sgemm, pure Go, GOMAXPROCS set to threads=)" >>"$tmp/out"

# The Python peers run when their packages are there; otherwise the file
# says so, and the report shows no column for them.
numpy=0 torch=0
if [ "$PEERS" != 0 ]; then
	if "$PYTHON" -c 'import numpy, threadpoolctl' 2>/dev/null; then
		numpy=1
	else
		echo "bench: $PYTHON lacks numpy or threadpoolctl: the openblas peer is left out (make deps-bench installs them)" >&2
		echo "# peer openblas: not run ($PYTHON lacks numpy or threadpoolctl)" >>"$tmp/out"
	fi
	if [ -e bench/torch_vae.py ] && "$PYTHON" -c 'import torch' 2>/dev/null; then
		torch=1
	else
		echo "bench: no PyTorch for $PYTHON (or no bench/torch_vae.py): the torch peer is left out" >&2
		echo "# peer torch: not run (no PyTorch for $PYTHON, or no bench/torch_vae.py)" >>"$tmp/out"
	fi
fi

# The OpenBLAS kernels the peers run with are chosen once for the whole run
# (bench/openblas_core.py: OpenBLAS's own unless older than this CPU, then
# the fastest of its ISA), so that every round times the same ones.
choice=$tmp/openblas.json
if [ "$numpy" = 1 ] || [ "$torch" = 1 ]; then
	builds=pthreads
	[ -d /usr/lib/x86_64-linux-gnu/openblas-openmp ] && builds+=,openmp
	if ! "$PYTHON" bench/openblas_core.py --build "$builds" --json "$choice" | sed 's/^/bench: /' >&2; then
		echo "bench: no OpenBLAS core could be chosen: the Python peers are left out" >&2
		echo "# peer openblas: not run (bench/openblas_core.py failed)" >>"$tmp/out"
		numpy=0 torch=0
	fi
fi

for ((round = 1; round <= COUNT; round++)); do
	load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
	echo "bench: round $round of $COUNT (load $load)" >&2
	echo "# round $round of $COUNT: loadavg $load at $(date -u +%H:%M:%SZ)" >>"$tmp/out"
	while read -r bin dir; do
		(cd "$dir" && "$bin" -test.run '^$' -test.bench "$BENCH" -test.benchtime "$BENCHTIME" \
			-test.count 1 -test.cpu "$PROCS" -test.benchmem) | tee -a "$tmp/out"
	done <"$tmp/binaries"
	# Each peer reads the Go lines so far for the configurations to time.
	if [ "$numpy" = 1 ]; then
		"$PYTHON" bench/numpy_sgemm.py --gobench "$tmp/out" --bench "$BENCH" --benchtime "$BENCHTIME" \
			--procs "$PROCS" --openblas-choice "$choice" | tee -a "$tmp/out"
	fi
	if [ "$torch" = 1 ]; then
		"$PYTHON" bench/torch_trainstep.py --gobench "$tmp/out" --bench "$BENCH" --benchtime "$BENCHTIME" \
			--procs "$PROCS" --openblas-choice "$choice" | tee -a "$tmp/out"
	fi
done

# The load at the end tells how quiet the machine stayed.
echo "# loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" >>"$tmp/out"
mv "$tmp/out" "$OUT"
echo "bench: wrote $OUT" >&2
