# fastvae: see README.md for what each target is for.
SHELL := /bin/bash
GO ?= go

.PHONY: all deps generate check-generate vet test parity bench

all: vet test

# Debian packages the targets need: qemu-user-static runs the parity matrix.
DEBS := qemu-user-static

# deps installs what the tests need. Idempotent; runs as root on a fresh Debian
# (apt-get runs only when a package in DEBS is missing).
deps:
	$(GO) mod download
	cd asm && $(GO) mod download
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing" $$missing; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# generate rewrites the assembly and its Go stubs from the avo programs in asm/.
generate:
	$(GO) generate ./...

# check-generate fails when the committed assembly differs from what asm/ generates.
check-generate: generate
	@if [ -n "$$(git status --porcelain -- kernels)" ]; then \
		echo "check-generate: generated files differ from the committed ones:"; \
		git status --porcelain -- kernels; git diff --stat -- kernels; exit 1; \
	fi
	@echo "check-generate: no drift"

vet:
	test -z "$$(gofmt -l . | tee /dev/stderr)"
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...
	$(GO) vet -tags purego ./...
	cd asm && $(GO) vet ./...

test: vet
	$(GO) test -count=1 ./...
	FASTVAE_KERNELS=generic FASTVAE_EXPECT_KERNELS=generic $(GO) test -count=1 ./kernels
	FASTVAE_EXPECT_KERNELS=generic $(GO) test -count=1 -tags purego ./kernels
	FASTVAE_EXPECT_KERNELS=generic $(GO) test -count=1 -tags noasm ./kernels
	GOARCH=arm64 $(GO) build ./...

# parity runs the tests and a deterministic workload under qemu CPU models that
# cover every dispatch decision, on arm64, and in the purego, noasm and
# GOAMD64=v3 builds, and prints a table; see scripts/parity.sh.
parity:
	./scripts/parity.sh

BENCHTIME ?= 1s
COUNT ?= 1
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(COUNT) ./kernels
