# socktrace build. The generated BPF objects are committed, so build and test
# need only Go; generate needs the pinned clang below.
GO       ?= go
CLANG    ?= clang-14
CLANG_FORMAT ?= clang-format-14
BIN      ?= bin/socktrace
export CGO_ENABLED = 0

.PHONY: all build generate check-generated test readme bench bench-go bench-trace bench-table bench-table-soak bench-serve-soak bench-serve bench-top bench-top-soak bench-progs bench-snapshot pgo lint fuzz clean
FUZZTIME ?= 20s

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

# Rewrite README.md's example output from a real run of its scenario (needs root).
readme:
	$(GO) test -count=1 -run '^TestREADMEExamples$$' ./cmd/socktrace -update-readme

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfel\.go$$'))" || \
		{ gofmt -l $$(git ls-files '*.go' | grep -v '_bpfel\.go$$'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(CLANG_FORMAT) --dry-run --Werror $$(git ls-files 'bpf/*.c' 'bpf/*.h' | grep -v '^bpf/headers/')
	@$(GO) mod tidy -diff || \
		{ echo "go.mod or go.sum is not tidy: run 'go mod tidy' and commit"; exit 1; }

# Speed and memory targets live here, never in timed tests.
bench: bench-go bench-trace bench-table bench-top bench-serve bench-snapshot

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Connection churn with the tracer off and on, in one run (needs root).
bench-trace: build
	./bench/trace.sh

# socktrace -tanc inside the churn's namespace, off and on, in one run, then
# socktrace -tanpc's memory through a TIME_WAIT pile of 100k rows (needs root).
bench-table: build
	./bench/table.sh
	./bench/table.sh pile

# socktrace top against -tanc and the churn alone, in interleaved rounds
# (needs root).
bench-top: build
	./bench/ab.sh table,top $(BIN)

# socktrace serve, scraped every second, against -tanc and the churn
# alone, in interleaved rounds, and its scrapes' times (needs root).
bench-serve: build
	./bench/ab.sh table,serve $(BIN)

# socktrace top's RSS under max churn to 50,000 remote addresses, sampled
# every 30 s for SOAK seconds (default 120; the issue's soak is SOAK=600).
# Not part of bench.
bench-top-soak: build
	./bench/top.sh soak

# Each kernel program's run time per connection at a paced churn, for
# trace and -tanc, from the kernel's BPF statistics (needs root, bpftool).
bench-progs: build
	./bench/progs.sh trace
	./bench/progs.sh table

# socktrace -tanc's RSS under max churn, sampled every 30 s for SOAK seconds
# (default 120; the issue's soak is SOAK=600). Not part of bench.
bench-table-soak: build
	./bench/table.sh soak

# socktrace serve's RSS under churn with every opt-in label, scraped every
# 5 s, sampled every 60 s for SOAK seconds (default 120; the issue's soak
# is SOAK=600; RATE=5000 paces the churn). Not part of bench.
bench-serve-soak: build
	./bench/serve.sh soak

# cmd/socktrace/default.pgo, the profile go build optimizes with, from
# trace and -c under churn (needs root).
pgo: build
	./bench/pgo.sh

# 50k established connections: socktrace vs ss vs netstat (needs root).
bench-snapshot: build
	./bench/snapshot.sh

# Every Go fuzz target, FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin
