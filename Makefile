# fastvae: see README.md for what each target is for.
SHELL := /bin/bash
GO ?= go

.PHONY: all deps deps-bench generate check-generate vet test fuzz parity bench bench-smoke bench-numpy \
	bench-compare bench-impls bench-report bench-baseline exhaustive
.PHONY: data deps-torch bench-torch build train

# Debian's Fashion-MNIST package puts the four gzipped IDX files here.
DATA ?= /usr/share/datasets/fashion-mnist
# SUDO is empty as root, sudo otherwise.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

all: vet test

# Debian packages the targets need: qemu-user-static runs the parity matrix;
# python3-numpy and python3-pil write the .npy, .npz and image files that the
# data readers' tests read (internal/fixture); python3-torch is what the
# PyTorch interoperability tests (checkpoints, learning-rate schedules)
# compare against (under CI=true they fail without it), on OpenBLAS
# (libopenblas0-pthread) rather than the reference BLAS.
DEBS := qemu-user-static python3-numpy python3-pil python3-torch libopenblas0-pthread

# deps installs what the tests need. Idempotent; runs as root on a fresh Debian
# (apt-get runs only when a package in DEBS is missing).
deps:
	$(GO) mod download
	cd asm && $(GO) mod download
	cd bench && $(GO) mod download
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing" $$missing; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi
	cd bench && $(GO) build -o /dev/null golang.org/x/perf/cmd/benchstat honnef.co/go/tools/cmd/staticcheck

# apt-install installs those of the Debian packages $(1) that are missing
# (through sudo unless root), or says that all are there.
define apt-install
	@missing=; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "$@: installing$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else \
		echo "$@: $(1) already installed"; \
	fi
endef

# deps-bench adds what bench-numpy compares against: Debian's numpy on
# OpenBLAS (the pthreads build; without it numpy runs the reference BLAS) and
# threadpoolctl to check which BLAS numpy calls; and, through deps-torch,
# what bench-torch compares against.
deps-bench: deps deps-torch
	$(call apt-install,python3-numpy libopenblas0-pthread python3-threadpoolctl)

# generate rewrites the assembly and its Go stubs from the avo programs in
# asm/: the kernels in kernels/, the FMA peak probe in bench/ (a module of
# its own, so go generate ./... at the top does not reach it).
generate:
	$(GO) generate ./...
	cd bench && $(GO) generate ./...

# GENERATED are the paths check-generate watches: kernels/ as a whole and
# the probe's two files in bench/.
GENERATED := kernels bench/peak_amd64.s bench/peak_amd64_stubs.go
# check-generate fails when the committed assembly differs from what asm/ generates.
check-generate: generate
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		echo "check-generate: generated files differ from the committed ones:"; \
		git status --porcelain -- $(GENERATED); git diff --stat -- $(GENERATED); exit 1; \
	fi
	@echo "check-generate: no drift"

# STATICCHECK runs staticcheck, pinned as a tool in bench/go.mod.
STATICCHECK = $$(cd bench && $(GO) tool -n staticcheck)

vet:
	test -z "$$(gofmt -l . | tee /dev/stderr)"
	$(GO) vet ./...
	sc=$(STATICCHECK) && $$sc ./... && (cd asm && $$sc ./...) && (cd bench && $$sc ./...)
	GOARCH=arm64 $(GO) vet ./...
	$(GO) vet -tags purego ./...
	cd asm && $(GO) vet ./...
	cd bench && $(GO) vet ./...
	cd bench && GOARCH=arm64 $(GO) vet ./...
	cd bench && $(GO) vet -tags purego ./...

# RACE are the packages with goroutines: kernels' worker team and pools,
# vae's parallel step; -short keeps the race detector's slowdown affordable.
RACE := ./kernels ./vae

test: vet
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race -short $(RACE)
	FASTVAE_KERNELS=generic FASTVAE_EXPECT_KERNELS=generic $(GO) test -count=1 ./kernels
	FASTVAE_EXPECT_KERNELS=generic $(GO) test -count=1 -tags purego ./kernels
	FASTVAE_EXPECT_KERNELS=generic $(GO) test -count=1 -tags noasm ./kernels
	GOARCH=arm64 $(GO) build ./...
	cd bench && $(GO) test -count=1 ./...
	@if [ -x $(PYTHON) ]; then \
		echo "cd bench && $(PYTHON) -m unittest openblas_core_test"; \
		cd bench && PYTHONDONTWRITEBYTECODE=1 $(PYTHON) -m unittest openblas_core_test; \
	else \
		echo "test: no $(PYTHON): bench/openblas_core_test.py not run"; \
	fi
	$(MAKE) bench-smoke
	$(MAKE) fuzz

# FUZZTIME is the budget of each fuzz target in 'make fuzz': a count of
# inputs (about 5 s each here) rather than a duration, since Go 1.26's
# fuzzing coordinator can fail a run at its -fuzztime deadline with "context
# deadline exceeded" and no failing input (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 100000x
# fuzz runs every fuzz target of the module (the readers of outside files:
# IDX, .npy, .npz, CSV, images, checkpoints) for FUZZTIME each, from its seed
# corpus; go test fuzzes one target at a time. A failing input is saved
# under the package's testdata/fuzz/ and the run fails.
fuzz:
	@set -e; for dir in $$(grep -l '^func Fuzz' $$(find . -path ./bench -prune -o -path ./asm -prune -o -name '*_test.go' -print) | xargs -n1 dirname | sort -u); do \
		for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go); do \
			echo "$(GO) test -run '^$$' -fuzz '^$$f$$' -fuzztime $(FUZZTIME) $$dir"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$dir 2>&1) || { echo "$$out"; exit 1; }; \
			echo "$$out" | grep -E '^(fuzz: elapsed|ok)' | tail -n 2; \
		done; \
	done

# bench-smoke runs every benchmark of both modules once (-benchtime 1x), so
# that CI sees each of them build and run without paying for real timings;
# -short leaves out the largest products for the scalar implementations.
# Then it checks that every name is in benchstat's key=value form with impl=.
bench-smoke:
	@set -o pipefail; out=$$(mktemp) && trap 'rm -f "$$out"' EXIT && \
	echo "$(GO) test -count=1 -short -run '^$$' -bench . -benchtime 1x ./... (both modules)" && \
	$(GO) test -count=1 -short -run '^$$' -bench . -benchtime 1x ./... | tee "$$out" && \
	(cd bench && $(GO) test -count=1 -short -run '^$$' -bench . -benchtime 1x ./...) | tee -a "$$out" && \
	echo "bench-smoke: $$(grep -c '^Benchmark' "$$out") benchmarks ran once" && \
	cd bench && $(GO) run ./cmd/report -check "$$out" && echo "bench-smoke: every name is key=value with impl="

# exhaustive checks Exp and Sigmoid of every implementation on all 2^32
# float32 inputs and prints the maximum errors (minutes on two cores).
exhaustive:
	$(GO) test -count=1 -v -timeout 2h -run Exhaustive -exhaustive ./kernels

# parity runs the tests and a deterministic workload under qemu CPU models that
# cover every dispatch decision, on arm64, and in the purego, noasm and
# GOAMD64=v3 builds, and prints a table; see scripts/parity.sh.
parity:
	./scripts/parity.sh

# bench runs the whole suite (every package of both modules, and the numpy
# peer when $(PYTHON) has numpy) COUNT rounds, interleaved, pinned to
# GOMAXPROCS=PROCS, into bench/results/DATE-COMMIT.txt: see bench/run.sh.
# BENCH narrows it as go test -bench does, e.g. BENCH=Sgemm/impl=avx512.
# BENCHTIME is half go test's default: the suite has some 330 benchmarks, and
# ten interleaved rounds of shorter runs say more on a shared machine than
# fewer long ones (a full run takes about an hour here).
BENCHTIME ?= 0.5s
COUNT ?= 10
BENCH ?= .
PROCS ?= $(shell nproc)
PYTHON ?= /usr/bin/python3
SGEMM_OUT ?= bench/results/sgemm.tmp
bench:
	GO='$(GO)' COUNT='$(COUNT)' BENCH='$(BENCH)' BENCHTIME='$(BENCHTIME)' PROCS='$(PROCS)' PYTHON='$(PYTHON)' bench/run.sh

# bench-compare runs benchstat (golang.org/x/perf, pinned in bench/go.mod as
# a tool) on OLD against NEW: by default the committed baseline for this
# CPU model against the newest run. One table per package and
# implementation; the per-file keys that always differ between runs are
# ignored so that they do not split the tables (a different Go version or
# CPU is printed as a note instead). Benchmarks NEW did not run (BENCH=...)
# are left out of OLD, with a note.
BENCHSTAT_IGNORE := go,commit,date,count,benchtime,procs,cpu-model,loadavg
BENCHSTAT_FLAGS ?= -table .config,/impl
# FILTER is a benchstat -filter query for bench-compare and bench-impls,
# e.g. FILTER='.name:TrainStep' or FILTER='/threads:1 .unit:GFLOP/s'.
FILTER ?= *
bench-compare:
	@new=$$(bench/results.sh run '$(NEW)') || exit 1; \
	if [ -n '$(OLD)' ]; then old=$$(bench/results.sh run '$(OLD)'); else old=$$(bench/results.sh baseline "$$new"); fi || exit 1; \
	echo "benchstat: old=$$old new=$$new" && \
	for k in go cpu; do \
		a=$$(sed -n "s/^$$k: //p" "$$old" | head -n 1); b=$$(sed -n "s/^$$k: //p" "$$new" | head -n 1); \
		[ "$$a" = "$$b" ] || echo "benchstat: note: $$k differs: old $$a, new $$b"; \
	done && \
	sub=$$(mktemp) && trap 'rm -f "$$sub"' EXIT && bench/results.sh subset "$$old" "$$new" >"$$sub" && \
	new=$$(realpath "$$new") && cd bench && \
	$(GO) tool benchstat -ignore $(BENCHSTAT_IGNORE) $(BENCHSTAT_FLAGS) -filter '$(FILTER)' "old=$$sub" "new=$$new"

# bench-impls compares the implementations within one run (IN, default the
# newest): benchstat with a column per impl= value, the first as the base.
bench-impls:
	@in=$$(bench/results.sh run '$(IN)') || exit 1; \
	echo "benchstat: $$in" && in=$$(realpath "$$in") && \
	cd bench && $(GO) tool benchstat -col /impl -filter '$(FILTER)' "$$in"

# bench-report renders bench/README.md and bench/sgemm.png from a results
# file (IN, default the newest); the README names the file and the run.
bench-report:
	@in=$$(bench/results.sh run '$(IN)') || exit 1; \
	path=$$(realpath "$$in") && \
	cd bench && $(GO) run ./cmd/report -o README.md -chart sgemm.png -source "$$in" "$$path" && \
	echo "bench-report: bench/README.md and bench/sgemm.png from $$in"

# bench-baseline copies a run (IN, default the newest) to
# bench/baselines/CPU.txt, the default OLD of bench-compare on this CPU
# model. Refresh it on purpose, and say why in the commit.
bench-baseline:
	@in=$$(bench/results.sh run '$(IN)') || exit 1; \
	out=bench/baselines/$$(bench/results.sh slug "$$in").txt || exit 1; \
	mkdir -p bench/baselines && cp "$$in" "$$out" && \
	echo "bench-baseline: $$in -> $$out; commit it with the reason (what moved, machine load)"

# bench-numpy runs BenchmarkSgemm (fastvae's implementations and gonum, 1 and
# 2 threads) and numpy's OpenBLAS matmul at the same shapes, interleaved shape
# by shape, COUNT rounds, each round after BenchmarkFMAPeak, and prints them
# side by side with fastvae/OpenBLAS ratios and as percentages of the peak.
# OpenBLAS runs with the kernels bench/openblas_core.py chooses for this CPU
# (whatever OPENBLAS_CORETYPE says here), on OPENBLAS_NUM_THREADS 1 and 2.
# The Go results go to SGEMM_OUT.
bench-numpy: deps-bench
	@mkdir -p $(dir $(SGEMM_OUT))
	cd bench && $(GO) test -c -o results/bench.test .
	PYTHONDONTWRITEBYTECODE=1 $(PYTHON) bench/numpy_sgemm.py --count $(COUNT) --benchtime $(BENCHTIME) --raw $(SGEMM_OUT) bench/results/bench.test

# data installs Fashion-MNIST from Debian (dataset-fashion-mnist) into $(DATA),
# unless the package is already installed.
data:
	@if dpkg-query -W -f='$${Status}' dataset-fashion-mnist 2>/dev/null | grep -q 'ok installed'; then \
		echo "data: dataset-fashion-mnist already installed in $(DATA)"; \
	else \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends dataset-fashion-mnist; \
	fi

# deps-torch installs what the PyTorch side-by-side needs (not needed by the
# tests or CI): Debian's PyTorch, both builds of OpenBLAS it is run on (the
# OpenMP one is the faster at 2 threads here), and numpy, on which
# bench/openblas_core.py checks and times OpenBLAS's kernels.
deps-torch: data
	$(call apt-install,python3-torch python3-numpy libopenblas0-pthread libopenblas0-openmp)

# build puts the fastvae command in bin/.
build:
	$(GO) build -o bin/fastvae ./cmd/fastvae

# train sets everything up and trains the default model (the PyTorch example's
# VAE, 10 epochs) on Fashion-MNIST into results/.
train: data build
	./bin/fastvae train --data $(DATA) --out results

BENCH_EPOCHS ?= 10
# BENCH_FLAGS passes more options, e.g. --threads 2 --blas OpenMP --raw FILE.
BENCH_FLAGS ?=
# bench-torch trains the PyTorch example's VAE and fastvae on the same data,
# 1 and 2 threads each, and prints seconds per epoch, test losses and ratios.
bench-torch: deps-torch build
	PYTHONDONTWRITEBYTECODE=1 $(PYTHON) bench/side_by_side.py --fastvae ./bin/fastvae --data $(DATA) --epochs $(BENCH_EPOCHS) $(BENCH_FLAGS)
