#!/usr/bin/env bash
# bench/results.sh finds results files for the bench-* make targets.
#
#   bench/results.sh newest          the newest file in bench/results/
#   bench/results.sh run [FILE]      FILE, or the newest when FILE is empty,
#                                    once it is known to hold benchmark results
#   bench/results.sh slug FILE       the CPU slug of FILE's first cpu: line
#   bench/results.sh baseline FILE   bench/baselines/SLUG.txt for FILE's CPU
#   bench/results.sh subset OLD NEW  OLD without the benchmarks NEW lacks
#
# Each prints the one path it finds on stdout, or one line saying what is
# missing and how to get it on stderr, and exits 1, so that a make target
# can stop at the first one that fails.
#
# A slug is the cpu: line as go test prints it, then the family and model of
# the cpu-model: line run.sh writes (where there is one), lower-cased, with
# every run of other characters than letters and digits turned into one
# dash: "AMD EPYC" of family 26 model 2 -> amd-epyc-family-26-model-2,
# "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz" -> intel-r-core-tm-i7-8700-cpu-3-20ghz-...
set -euo pipefail
cd "$(dirname "$0")/.."

# results FILE fails unless FILE is a readable file with benchmark lines.
results() {
	if [ ! -e "$1" ]; then
		echo "bench: $1: no such file" >&2
		exit 1
	fi
	if [ ! -f "$1" ] || [ ! -r "$1" ]; then
		echo "bench: $1: not a readable file" >&2
		exit 1
	fi
	if ! grep -q '^Benchmark' "$1"; then
		echo "bench: $1: no benchmark results in it" >&2
		exit 1
	fi
}

newest() {
	# Names start with the date and ls -t breaks ties by name order poorly,
	# so take the most recently written file.
	local f
	f=$(ls -t bench/results/*.txt 2>/dev/null | head -n 1 || true)
	if [ -z "$f" ]; then
		echo "bench: no results in bench/results/: run make bench first" >&2
		exit 1
	fi
	echo "$f"
}

slug() {
	local cpu
	results "$1"
	cpu=$(sed -n 's/^cpu: *//p' "$1" | head -n 1)
	if [ -z "$cpu" ]; then
		echo "bench: $1: no cpu: line, so its CPU model is unknown" >&2
		exit 1
	fi
	model=$(sed -n 's/^cpu-model: *//p' "$1" | head -n 1)
	[ "$model" = unknown ] && model=
	printf '%s %s\n' "$cpu" "$model" | tr 'A-Z' 'a-z' | sed -E 's/[^a-z0-9]+/-/g; s/^-+//; s/-+$//'
}

case "${1:-}" in
newest)
	newest
	;;
run)
	f=${2:-}
	[ -n "$f" ] || f=$(newest)
	results "$f"
	echo "$f"
	;;
slug)
	slug "${2:?usage: bench/results.sh slug FILE}"
	;;
baseline)
	s=$(slug "${2:?usage: bench/results.sh baseline FILE}")
	b=bench/baselines/$s.txt
	if [ ! -e "$b" ]; then
		cpu=$(sed -n 's/^cpu: *//p' "$2" | head -n 1)
		echo "bench: no baseline for this CPU model ($cpu) in bench/baselines/: make bench-baseline makes $b from the newest run (IN=file for another), or pass OLD=file" >&2
		exit 1
	fi
	echo "$b"
	;;
subset)
	# OLD's lines without the benchmarks NEW did not run (a BENCH=... run),
	# so that benchstat compares only what both have; config and comment
	# lines are kept. The count of benchmarks left out goes to stderr.
	awk -v new="$3" '
		BEGIN { while ((getline l < new) > 0) if (l ~ /^Benchmark/) { split(l, f); want[f[1]] = 1 } }
		/^Benchmark/ { if (!($1 in want)) { if (!($1 in gone)) { gone[$1] = 1; n++ } ; next } }
		{ print }
		END { if (n) printf "bench-compare: %d benchmarks of %s not in %s left out\n", n, FILENAME, new > "/dev/stderr" }
	' "$2"
	;;
*)
	echo "usage: bench/results.sh newest | run [FILE] | slug FILE | baseline FILE | subset OLD NEW" >&2
	exit 2
	;;
esac
