# fastvae: see README.md for what each target is for.
SHELL := /bin/bash
GO ?= go

.PHONY: all deps generate check-generate vet test bench exhaustive

all: vet test

# deps installs what the tests need. Idempotent; runs as root on a fresh Debian.
deps:
	$(GO) mod download
	cd asm && $(GO) mod download

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

# exhaustive checks Exp and Sigmoid of every implementation on all 2^32
# float32 inputs and prints the maximum errors (minutes on two cores).
exhaustive:
	$(GO) test -count=1 -v -timeout 2h -run Exhaustive -exhaustive ./kernels

BENCHTIME ?= 1s
COUNT ?= 1
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(COUNT) ./kernels
