# mcpscope — build, generate, test, benchmark.
#
#   make            build ./bin/mcpscope
#   make run        build and run the monitor (needs root)
#   make test       every test: unit, fuzz seeds, BPF and end to end on this kernel, then in Debian 5.10 and the
#                   newest Debian kernel under qemu (run as root; installs the npm test peers and qemu)
#   make test-kernels-ci  the kernel part of make test alone
#   make bench      benchmarks; results and method in docs/benchmarks.md
#   make generate   rebuild the BPF objects and bindings for amd64 and arm64 (installs clang if missing)
#   make vmlinux    regenerate internal/bpf/headers/vmlinux_{x86,arm64}.h from real kernels' BTF (VMLINUX_ARCH=x86|arm64|all)

GO        ?= go
BIN       := bin/mcpscope
BPF_CLANG ?= clang
BPF_CFLAGS ?= -O2 -g -Wall -Werror
NODE_DIR  := test/node
CUDA_DIR  := test/cuda/lib
SSL11_DIR := test/ssl11/lib
STATICCHECK_VERSION := v0.7.0

.PHONY: all build run test test-deps unit e2e lint generate generate-deps vmlinux bench fuzz clean test-kernels test-kernels-ci

all: build

build:
	$(GO) build -o $(BIN) ./cmd/mcpscope

run: build
	sudo ./$(BIN)

# npm peers used by the end-to-end tests, pinned by test/node/package-lock.json; python3 and curl, the HTTPS clients
# on libssl, and wget, the one on GnuTLS; NVIDIA's CUDA driver library, whose calls a footprint test counts (no GPU needed; nothing installed).
test-deps: $(NODE_DIR)/node_modules/.package-lock.json $(CUDA_DIR)/libcuda.so.1 $(SSL11_DIR)/libssl.so.1.1
	command -v python3 >/dev/null && command -v curl >/dev/null && command -v wget >/dev/null || (apt-get update -qq && apt-get install -y -qq python3 curl wget)
	# BoringSSL (Debian's Android build of it), OpenSSL's headers and a C compiler, for the C clients of the HTTPS
	# tests; each installed only if missing (installing libssl-dev again would upgrade the system's libssl3)
	test -e /usr/include/android/openssl/is_boringssl.h || (apt-get update -qq && apt-get install -y -qq android-libboringssl-dev)
	test -e /usr/include/openssl/ssl.h || (apt-get update -qq && apt-get install -y -qq libssl-dev)
	command -v cc >/dev/null || (apt-get update -qq && apt-get install -y -qq gcc)
$(CUDA_DIR)/libcuda.so.1: test/cuda/fetch-libcuda.sh test/fetch-deb.sh
	test/cuda/fetch-libcuda.sh $(CUDA_DIR)
$(SSL11_DIR)/libssl.so.1.1: test/ssl11/fetch-libssl11.sh test/fetch-deb.sh
	test/ssl11/fetch-libssl11.sh $(SSL11_DIR)
$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error
	touch $@

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfel.go$$')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...   # arm64 must keep building (internal/bpf/*_arm64_bpfel.o)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Every test. BPF and end-to-end tests need root; with CI=true they fail rather than skip when BPF is unavailable.
# The host's own tests run first, so a failing kernel in the matrix never hides their results; then the matrix of
# the oldest and the newest kernel (test-kernels-ci), with half the end-to-end set (test/kernels, ciE2ERun).
test: test-deps lint
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) run ./test/kernels -kernels ci -bench=false

# The kernel matrix (test/kernels, run as root): the BPF, capture and end-to-end tests inside Debian kernels 5.10,
# 6.1, 6.12 and the newest (sid) under qemu, records compared with the host's. test-kernels rewrites
# docs/kernels.md and measures the hook sets' cost per kernel; test-kernels-ci runs the oldest and the newest
# kernel only, without the benchmark and with half the end-to-end tests. A test that fails in a guest, or a session
# whose records differ from the host's, while the kernel skipped runs of mcpscope's programs runs once more in a
# second boot (docs/kernel.md, "Skipped runs on preemptible kernels"); any other failure fails the run. Kernels are cached in $MCPSCOPE_KERNEL_CACHE (default
# /var/cache/mcpscope-kernels). Under software emulation on a 2-vCPU VM, two guests at a time, each guest took
# 40-45 min on 2026-11-30 with the full end-to-end set: test-kernels needs about 1.5 h there, test-kernels-ci
# about 35 min (docs/kernels.md has the time per step).
test-kernels: test-deps
	$(GO) run ./test/kernels -kernels all -docs docs/kernels.md

test-kernels-ci: test-deps
	$(GO) run ./test/kernels -kernels ci -bench=false

bench: build test-deps
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	$(GO) test -count=1 -timeout 30m -run '^$$' -bench . -benchtime 1x ./test/bench/...

fuzz:
	for t in $$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include '*_test.go' internal | sed 's/func //'); do \
	  pkg=$$(grep -rlE "^func $$t\\(" --include '*_test.go' internal | xargs dirname); \
	  $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime 30s ./$$pkg || exit 1; \
	done

generate-deps:
	command -v $(BPF_CLANG) >/dev/null || (apt-get update -qq && apt-get install -y -qq clang llvm libbpf-dev)

generate: generate-deps
	cd internal/bpf && BPF_CLANG=$(BPF_CLANG) BPF_CFLAGS="$(BPF_CFLAGS)" $(GO) generate ./...

# x86 from this host's /sys/kernel/btf/vmlinux (X86_SOURCE=debian: a Debian amd64 kernel package), arm64 from a Debian
# arm64 kernel package fetched with a private apt configuration; see the script's header. Run `make generate` after.
VMLINUX_ARCH ?= all
vmlinux:
	command -v bpftool >/dev/null || (apt-get update -qq && apt-get install -y -qq bpftool)
	internal/bpf/headers/gen-vmlinux.sh $(VMLINUX_ARCH)

clean:
	rm -rf bin
