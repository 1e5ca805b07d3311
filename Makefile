# mediakit — see README.md.
#   make run     build and run `mediakit serve` with the built-in defaults
#   make test    what CI runs: gofmt check, go vet, go test -race ./..., memory bounds without -race

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
CMDUTIL := github.com/mediakit/mediakit/pkg/cli/cmdutil
LDFLAGS := -X $(CMDUTIL).version=$(VERSION) -X $(CMDUTIL).commit=$(COMMIT) -X $(CMDUTIL).date=$(DATE)
GO      ?= go
FUZZTIME ?= 10s
FUZZPKGS ?= ./...
# goreleaser, pinned: `make goreleaser` installs it into ./bin.
GORELEASER_VERSION := v2.16.0
GORELEASER ?= $(if $(wildcard bin/goreleaser),bin/goreleaser,goreleaser)

.PHONY: all build run test fmt vet fuzz bench bench-fanout soak docs player-vendor notice goreleaser release-check snapshot package-check clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mediakit ./cmd/mediakit

run: build
	./bin/mediakit serve

# go test starts the packages' test runs in the order listed, two at a time
# on two cores: pkg/server, the longest (minutes of real-time media), goes
# first so that it does not start last and finish alone. TestSoak runs
# after, by itself: its bounds on API latency need the machine to itself.
test: fmt vet
	$(GO) test -race -timeout 15m -skip '^TestSoak$$' ./pkg/server/ ./...
	$(GO) test -race -timeout 15m -run '^TestSoak$$' ./cmd/mediakit/
	$(GO) test -count 1 -run 'Memory$$' ./pkg/httpflv/ ./pkg/rtmp/   # memory bounds: the race detector inflates them

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Runs every fuzz target of FUZZPKGS for FUZZTIME each (the seeds already
# run in make test), e.g. make fuzz FUZZPKGS=./pkg/hook/ FUZZTIME=5s.
fuzz:
	@set -e; for pkg in $$($(GO) list $(FUZZPKGS)); do \
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

goreleaser:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

release-check:
	$(GORELEASER) check

# Every archive, the .deb/.rpm and the Homebrew cask in dist/, unpublished.
snapshot:
	$(GORELEASER) release --snapshot --clean

# snapshot plus checks of the archives and packages (packaging/check.sh).
package-check:
	GORELEASER=$(GORELEASER) packaging/check.sh

# The player page's scripts (pkg/player/assets) from npm, at the versions
# web/player/package-lock.json pins; the result is committed.
player-vendor:
	cd web/player && npm ci --no-audit --no-fund
	cp web/player/node_modules/hls.js/dist/hls.light.min.js web/player/node_modules/mpegts.js/dist/mpegts.js \
		web/player/node_modules/mpegts.js/dist/mpegts.js.LICENSE.txt pkg/player/assets/
	cp web/player/node_modules/hls.js/LICENSE pkg/player/assets/LICENSE.hls.js.txt
	cp web/player/node_modules/mpegts.js/LICENSE pkg/player/assets/LICENSE.mpegts.js.txt

# NOTICE: the linked modules and their licenses (internal/repocheck checks it).
notice:
	tools/notice.sh

clean:
	rm -rf bin
