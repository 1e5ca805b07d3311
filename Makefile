# mediakit — see README.md.
#   make run     build and run `mediakit serve` with the built-in defaults
#   make test    what CI runs: gofmt check, go vet, go test -race ./...

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/mediakit/mediakit/pkg/cli/cmdutil.version=$(VERSION)
GO      ?= go
FUZZTIME ?= 10s

.PHONY: all build run test fmt vet fuzz bench bench-fanout soak docs notice clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mediakit ./cmd/mediakit

run: build
	./bin/mediakit serve

test: fmt vet
	$(GO) test -race -timeout 15m ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Runs every fuzz target for FUZZTIME each (the seeds already run in make test).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

bench-fanout:
	bench/fanout.sh

# Longer churn than make test runs.
soak:
	MEDIAKIT_SOAK=1 $(GO) test -race -timeout 60m -run Soak -v ./...

docs:
	$(GO) run ./internal/gendocs

# NOTICE: the linked modules and their licenses (internal/repocheck checks it).
notice:
	tools/notice.sh

clean:
	rm -rf bin
