#!/usr/bin/env bash
# bench/results.sh finds results files for the bench-* make targets.
#
#   bench/results.sh newest          the newest file in bench/results/
#   bench/results.sh slug FILE       the CPU slug of FILE's first cpu: line
#   bench/results.sh baseline FILE   bench/baselines/SLUG.txt for FILE's CPU
#
# A slug is the cpu: line as go test prints it, lower-cased, with every run
# of other characters than letters and digits turned into one dash:
# "AMD EPYC" -> amd-epyc, "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz" ->
# intel-r-core-tm-i7-8700-cpu-3-20ghz.
set -euo pipefail
cd "$(dirname "$0")/.."

slug() {
	local cpu
	cpu=$(sed -n 's/^cpu: *//p' "$1" | head -n 1)
	if [ -z "$cpu" ]; then
		echo "bench: $1 has no cpu: line" >&2
		exit 1
	fi
	printf '%s\n' "$cpu" | tr 'A-Z' 'a-z' | sed -E 's/[^a-z0-9]+/-/g; s/^-+//; s/-+$//'
}

case "${1:-}" in
newest)
	# Names start with the date and ls -t breaks ties by name order poorly,
	# so take the most recently written file.
	f=$(ls -t bench/results/*.txt 2>/dev/null | head -n 1 || true)
	if [ -z "$f" ]; then
		echo "bench: no results in bench/results/: run make bench first" >&2
		exit 1
	fi
	echo "$f"
	;;
slug)
	slug "$2"
	;;
baseline)
	b=bench/baselines/$(slug "$2").txt
	if [ ! -e "$b" ]; then
		echo "bench: no baseline for this CPU ($b): pass OLD=file, or make bench-baseline to create one" >&2
		exit 1
	fi
	echo "$b"
	;;
*)
	echo "usage: bench/results.sh newest | slug FILE | baseline FILE" >&2
	exit 2
	;;
esac
