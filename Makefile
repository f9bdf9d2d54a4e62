# socktrace build. The generated BPF objects are committed, so build and test
# need only Go; generate needs the pinned clang below.
GO       ?= go
CLANG    ?= clang-14
BIN      ?= bin/socktrace
export CGO_ENABLED = 0

.PHONY: all build generate check-generated test bench lint fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags='-s -w' -o $(BIN) ./cmd/socktrace

# Rebuild bpf/*.bpf.c into tracer/*_bpfel.{go,o}.
generate:
	cd tracer && BPF2GO_CC=$(CLANG) $(GO) generate ./...

# Fails when the committed generated files differ from a fresh generate.
check-generated: generate
	@git diff --exit-code --stat -- tracer bpf || \
		{ echo "generated files are stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- tracer bpf)" || \
		{ git status --porcelain -- tracer bpf; echo "generate left untracked files"; exit 1; }

# Kernel tests need root; SOCKTRACE_REQUIRE_BPF=1 turns their skip into a failure.
test:
	$(GO) test -count=1 ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfel\.go$$'))" || \
		{ gofmt -l $$(git ls-files '*.go' | grep -v '_bpfel\.go$$'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
