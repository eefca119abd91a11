#!/usr/bin/env bash
# parity: proves that fastvae picks the right kernels on every CPU it may meet
# and computes the same bits on all of them. It builds the test
# binaries and internal/paritycheck for several architectures and build modes,
# runs them natively and under qemu-user with CPU models that cover every
# dispatch decision, and prints one table row per run:
#
#   - impl: the implementation chosen at start-up, which must be the row's
#     expectation (the kernels tests assert it too, via FASTVAE_EXPECT_KERNELS);
#   - features: what cpuid reports of the features dispatch looks at, which
#     must be what the row's CPU model is meant to have, so a row can't pass by
#     testing some other CPU than it claims;
#   - checksum: paritycheck's (a tiny VAE trained 20 steps), which must equal
#     the native checksum of the same implementation: bit-identical on every
#     CPU model and architecture;
#   - tests: every package's tests, with -test.short; under qemu, all but
#     those of vae and cmd/fastvae, which compute through the kernels and
#     the layers (tested in every row) and whose model paritycheck trains in
#     every row, but whose thread and process tests run a hundred times
#     slower emulated (minutes a row) and test nothing of the CPU; and only
#     in the first emulated row of each implementation ("-" in the others,
#     which check the dispatch and the checksum: the same code under the
#     same emulation passes the same tests).
#
# The first row runs paritycheck -all natively: every available implementation,
# each within the model's tolerance of generic. Rows run PARITY_JOBS at a time
# (default: the number of CPUs). Exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
jobs=${PARITY_JOBS:-$(nproc)}
unset FASTVAE_KERNELS FASTVAE_EXPECT_KERNELS

for q in qemu-x86_64-static qemu-aarch64-static; do
	command -v "$q" >/dev/null || { echo "parity: $q not found: run make deps (as root)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS

# Packages with tests, as directories relative to the module root.
mapfile -t pkgs < <($GO list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./... | sed "s|^$PWD/||")
# The packages whose tests run under qemu.
mapfile -t emulated_pkgs < <(printf '%s\n' "${pkgs[@]}" | grep -v -x -e vae -e cmd/fastvae)

# build NAME VAR=VALUE...: the test binaries (named after their package's
# directory) and paritycheck into $work/NAME, with the given environment
# (GOARCH, GOAMD64, GOFLAGS=-tags=...).
build() {
	local name=$1
	shift
	mkdir -p "$work/$name"
	env "$@" "$GO" test -c -o "$work/$name/" ./... >/dev/null &&
		env "$@" "$GO" build -o "$work/$name/paritycheck" ./internal/paritycheck
}

echo "parity: building test binaries and paritycheck"
build v1 GOARCH=amd64 GOAMD64=v1 || exit 1
build v3 GOARCH=amd64 GOAMD64=v3 || exit 1
build purego GOARCH=amd64 GOAMD64=v1 GOFLAGS=-tags=purego || exit 1
build noasm GOARCH=amd64 GOAMD64=v1 GOFLAGS=-tags=noasm || exit 1
build arm64 GOARCH=arm64 || exit 1
echo "parity: built in $((SECONDS - start))s"

format='%-20s %-5s %-6s %-7s %-7s %-29s %-17s %-5s %4s %s\n'
declare -A ref # implementation -> native checksum
n=0

# field NAME TEXT: the value of NAME=value in paritycheck's output.
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# Native references: every available implementation, compared with generic.
result=pass
out=$("$work/v1/paritycheck" -all 2>&1) || result="FAIL: tolerance"
echo "$out" >"$work/row0.log"
while read -r line; do
	i=$(field impl "$line")
	[ -z "$i" ] || ref[$i]=$(field checksum "$line")
done <<<"$out"
impls=$(field impl "$out" | paste -sd,)
printf "$format" "native: impls agree" amd64 v1 - each "$impls" \
	"diff $(field maxdiff "$out")<=$(field tolerance "$out")" - - "$result" >"$work/row0.result"

# row CPU ARCH BUILD KERNELS WANT_IMPL WANT_FEATURES RUNNER...: runs, in the
# background, the test binaries and paritycheck of BUILD through RUNNER (a
# qemu command line, or nothing) with FASTVAE_KERNELS=KERNELS ("-": unset).
# WANT_IMPL "*" leaves the expectation to the tests, which natively derive it
# from cpuid; WANT_FEATURES "*" skips that check. The table line goes to
# $work/rowN.result, the output to $work/rowN.log. The tests run when
# row_tests is yes (x86 below sets it for its row).
row_tests=yes
row() {
	n=$((n + 1))
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
	run_row "$work/row$n" "$@" &
}

run_row() {
	local base=$1 cpu=$2 arch=$3 build=$4 kernels=${5#-} want=$6 wantfeat=$7 expect=$6
	local t0=$SECONDS pkg out impl feat sum tests=ok why= result=pass
	shift 7
	[ "$want" != "*" ] || expect=
	local -a run_pkgs=("${pkgs[@]}")
	[ $# = 0 ] || run_pkgs=("${emulated_pkgs[@]}")
	[ "$row_tests" = yes ] || { run_pkgs=(); tests=-; }
	for pkg in "${run_pkgs[@]}"; do
		(cd "$pkg" && env FASTVAE_KERNELS="$kernels" FASTVAE_EXPECT_KERNELS="$expect" "$@" \
			"$work/$build/${pkg##*/}.test" -test.short -test.count=1 -test.timeout=4m) >>"$base.log" 2>&1 || tests=FAIL
	done
	out=$(env FASTVAE_KERNELS="$kernels" "$@" "$work/$build/paritycheck" 2>>"$base.log" | tee -a "$base.log")
	impl=$(field impl "$out")
	feat=$(field features "$out")
	sum=$(field checksum "$out")
	[ "$tests" != FAIL ] || why+=" tests"
	[ "$want" = "*" ] || [ "$impl" = "$want" ] || why+=" impl(want $want)"
	[ "$wantfeat" = "*" ] || [ "$feat" = "$wantfeat" ] || why+=" features(want $wantfeat)"
	[ -n "$sum" ] && [ "$sum" = "${ref[${impl:-?}]:-}" ] || why+=" checksum(want ${ref[${impl:-?}]:-none})"
	[ -z "$why" ] || result="FAIL:$why"
	printf "$format" "$cpu" "$arch" "$build" "${kernels:--}" "${impl:-?}" "${feat:-?}" "${sum:-?}" \
		"$tests" $((SECONDS - t0)) "$result" >"$base.result"
}

row native amd64 v1 - "*" "*"
for i in ${impls//,/ }; do
	row native amd64 v1 "$i" "$i" "*"
done
row native amd64 v3 - "*" "*"
row native amd64 v3 generic generic "*"
row native amd64 purego - generic "*"
row native amd64 noasm - generic "*"

# x86 CPU WANT_IMPL WANT_FEATURES: a qemu row, with the tests only if it is
# the first to expect WANT_IMPL.
declare -A emulated_tests
x86() {
	local row_tests=${emulated_tests[$2]:-yes}
	emulated_tests[$2]=no
	row "$1" amd64 v1 - "$2" "$3" qemu-x86_64-static -cpu "$1"
}
x86 qemu64 generic -
x86 Nehalem generic -
x86 SandyBridge generic AVX,OSXSAVE
x86 Haswell-noTSX avx2 AVX,AVX2,FMA3,OSXSAVE
x86 max,-fma generic AVX,AVX2,OSXSAVE
x86 Haswell-noTSX,-avx2 generic AVX,FMA3,OSXSAVE
x86 Haswell-noTSX,-xsave generic -
# QEMU 7.2's TCG cannot run AVX-512 and hides it from cpuid, also for models
# that have it: these must never choose an AVX-512 implementation.
x86 max avx2 AVX,AVX2,FMA3,OSXSAVE
x86 Skylake-Server avx2 AVX,AVX2,FMA3,OSXSAVE
row qemu-aarch64 arm64 arm64 - generic - qemu-aarch64-static
wait

# A failed row shows the lines of its log that say why: failed tests with
# testify's messages, panics and signals (an illegal instruction is what a
# wrong dispatch usually ends in under qemu), paritycheck's errors.
failed=0
for i in $(seq 0 "$n"); do
	grep -q ' pass$' "$work/row$i.result" && continue
	failed=1
	echo "---- $(cat "$work/row$i.result")"
	grep -v "TCG doesn't support" "$work/row$i.log" |
		grep -E -A 6 '^(--- FAIL|panic:|fatal|SIG|paritycheck:)|Error:|Messages:' | head -n 40
done
echo
printf "$format" "CPU model" arch build KERNELS impl features checksum tests secs result
for i in $(seq 0 "$n"); do cat "$work/row$i.result"; done
echo "parity: $n runs and the tolerance check in $((SECONDS - start))s ($jobs at a time)"
if [ "$failed" != 0 ]; then
	echo "parity: FAIL"
	exit 1
fi
echo "parity: pass"
