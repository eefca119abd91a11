#!/usr/bin/env bash
# parity: proves that fastvae picks the right kernels on every CPU it may meet
# and computes the same bits on all of them (issue 7). It builds the test
# binaries and internal/paritycheck for several architectures and build modes,
# runs them natively and under qemu-user with CPU models that cover every
# dispatch decision, and prints one table row per run:
#
#   - impl: the implementation chosen at start-up, which must be the row's
#     expectation (the kernels tests assert it too, via FASTVAE_EXPECT_KERNELS);
#   - features: what cpuid reports of the features dispatch looks at, which
#     must be what the row's CPU model is meant to have, so a row can't pass by
#     testing some other CPU than it claims;
#   - checksum: paritycheck's, which must equal the native checksum of the same
#     implementation (bit-identical on every CPU model and architecture);
#   - tests: every package's tests, with -test.short.
#
# The native "all" row runs paritycheck -all: every available implementation,
# each within paritycheck's tolerance of generic. Exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
unset FASTVAE_KERNELS FASTVAE_EXPECT_KERNELS

for q in qemu-x86_64-static qemu-aarch64-static; do
	command -v "$q" >/dev/null || { echo "parity: $q not found: run make deps (as root)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS

# Packages with tests, as directories relative to the module root.
mapfile -t pkgs < <($GO list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./... | sed "s|^$PWD/||")

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

declare -A ref # implementation -> native checksum
rows=()        # formatted table rows
failed=0
n=0

# record CPU ARCH BUILD KERNELS IMPL FEATURES CHECKSUM TESTS SECONDS RESULT LOG
record() {
	rows+=("$(printf "$format" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$9" "${10}")")
	if [ "${10}" != pass ]; then
		failed=1
		echo "---- ${10}: $1 $2 $3 $4; end of its log:"
		tail -n 30 "${11}"
	fi
}
format='%-20s %-5s %-6s %-7s %-7s %-29s %-16s %-5s %4s %s'

# row CPU ARCH BUILD KERNELS WANT_IMPL WANT_FEATURES RUNNER...: runs the test
# binaries and paritycheck of BUILD through RUNNER (a qemu command line, or
# nothing) with FASTVAE_KERNELS=KERNELS ("-" for unset). WANT_IMPL "*" leaves
# the expectation to the tests, which natively derive it from cpuid;
# WANT_FEATURES "*" skips that check.
row() {
	local cpu=$1 arch=$2 build=$3 kernels=${4#-} want=$5 wantfeat=$6 expect=$5 pkg out impl feat sum tests=ok why=
	shift 6
	[ "$want" != "*" ] || expect=
	n=$((n + 1))
	local log="$work/row$n.log" t0=$SECONDS
	for pkg in "${pkgs[@]}"; do
		(cd "$pkg" && env FASTVAE_KERNELS="$kernels" FASTVAE_EXPECT_KERNELS="$expect" "$@" \
			"$work/$build/${pkg##*/}.test" -test.short -test.count=1 -test.timeout=4m) >>"$log" 2>&1 || tests=FAIL
	done
	out=$(env FASTVAE_KERNELS="$kernels" "$@" "$work/$build/paritycheck" 2>>"$log" | tee -a "$log")
	impl=$(field impl "$out")
	feat=$(field features "$out")
	sum=$(field checksum "$out")
	[ "$tests" = ok ] || why+=" tests"
	[ "$want" = "*" ] || [ "$impl" = "$want" ] || why+=" impl(want $want)"
	[ "$wantfeat" = "*" ] || [ "$feat" = "$wantfeat" ] || why+=" features(want $wantfeat)"
	[ -n "$sum" ] && [ "$sum" = "${ref[$impl]:-}" ] || why+=" checksum(want ${ref[$impl]:-none})"
	local result=pass
	[ -z "$why" ] || result="FAIL:$why"
	record "$cpu" "$arch" "$build" "${kernels:--}" "${impl:-?}" "${feat:-?}" "${sum:-?}" "$tests" $((SECONDS - t0)) "$result" "$log"
}

# field NAME LINE: the value of NAME=value in paritycheck's output line.
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# Native references: every available implementation, compared with generic.
log="$work/all.log"
if out=$("$work/v1/paritycheck" -all 2>&1 | tee "$log"); then result=pass; else result="FAIL: tolerance"; fi
while read -r line; do
	i=$(field impl "$line")
	[ -z "$i" ] || ref[$i]=$(field checksum "$line")
done <<<"$out"
impls=$(grep -o 'impl=[^ ]*' <<<"$out" | cut -d= -f2 | paste -sd,)
record "native: impls agree" amd64 v1 - each "$impls" "diff $(field maxdiff "$out")<=$(field tolerance "$out")" - - "$result" "$log"

echo "parity: native runs"
row native amd64 v1 - "*" "*"
for i in ${impls//,/ }; do
	row native amd64 v1 "$i" "$i" "*"
done
row native amd64 v3 - "*" "*"
row native amd64 v3 generic generic "*"
row native amd64 purego - generic "*"
row native amd64 noasm - generic "*"

echo "parity: emulated runs (qemu-user)"
x86() { row "$1" amd64 v1 - "$2" "$3" qemu-x86_64-static -cpu "$1"; }
x86 qemu64 generic -
x86 Nehalem generic -
x86 SandyBridge generic AVX,OSXSAVE
x86 Haswell-noTSX avx2 AVX,AVX2,FMA3,OSXSAVE
x86 max,-fma generic AVX,AVX2,OSXSAVE
x86 Haswell-noTSX,-avx2 generic AVX,FMA3,OSXSAVE
x86 Haswell-noTSX,-xsave generic -
# QEMU 7.2's TCG cannot run AVX-512 and hides it from cpuid, also for
# models that have it: these must never choose an AVX-512 implementation.
x86 max avx2 AVX,AVX2,FMA3,OSXSAVE
x86 Skylake-Server avx2 AVX,AVX2,FMA3,OSXSAVE
row qemu-aarch64 arm64 arm64 - generic - qemu-aarch64-static

echo
printf "$format\n" "CPU model" arch build KERNELS impl features checksum tests secs result
printf '%s\n' "${rows[@]}"
echo "parity: $n runs and the tolerance check in $((SECONDS - start))s"
if [ "$failed" != 0 ]; then
	echo "parity: FAIL"
	exit 1
fi
echo "parity: pass"
