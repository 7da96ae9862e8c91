# Viber — common tasks. `make run` starts everything on this machine;
# `make install` puts viber, vibergw and viberd in $(BINDIR);
# `make test` runs every test (the command CI runs).

GO      ?= go
BIN     ?= bin
PREFIX  ?= $(HOME)/.local
BINDIR  ?= $(PREFIX)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/viberhq/viber/internal/command.Version=$(VERSION)
# BUILDFLAGS go to every go build (tests clear it to reuse their build cache).
BUILDFLAGS ?= -trimpath

.PHONY: all build install run test vet fmt generate bench clean

all: build

build:
	$(GO) build $(BUILDFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

## install: build and copy the three binaries to $(BINDIR) (default
## ~/.local/bin; `make install PREFIX=/usr/local` for /usr/local/bin).
install: build
	install -d '$(BINDIR)'
	install -m 0755 $(BIN)/viber $(BIN)/vibergw $(BIN)/viberd '$(BINDIR)/'
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; \
	 *) echo "note: $(BINDIR) is not on your PATH; add it, e.g. export PATH=\"$(BINDIR):\$$PATH\"";; esac

## run: build the dashboard (when npm is here) and the binaries into
## $(BIN)/, then start everything with $(BIN)/viber up.
run:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web; \
	 else echo "npm not found: the dashboard will show how to build it"; fi
	$(MAKE) --no-print-directory build
	$(BIN)/viber up

generate:
	$(GO) generate ./...

vet:
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet ./...

## test: every test — formatting, vet, the dashboard build (so the browser
## tests run), then all Go tests with the race detector.
test: vet web
	$(GO) test -race -timeout 25m ./...

bench:
	$(GO) run ./cmd/viber bench --json

clean:
	rm -rf $(BIN)

# --- dashboard (web/) ---------------------------------------------------
# `make web` builds web/dist, which the gateway embeds at the next go
# build / go run (so `make web run` serves the real dashboard). Without it
# the gateway serves a page saying how to build it.
NPM ?= npm

.PHONY: web web-types web-check test-web clean-web

## web: install the locked dependencies and build web/dist.
web:
	cd web && $(NPM) ci --no-audit --no-fund && $(NPM) run check:types && $(NPM) run build

## web-types: regenerate web/src/lib/events.gen.ts from schemas/.
web-types:
	cd web && $(NPM) run gen:types

## web-check: type-check the dashboard (svelte-check) and the generated types.
web-check:
	cd web && $(NPM) run check:types && $(NPM) run check

## test-web: the dashboard's API and browser tests (the browser tests skip
## without /usr/bin/chromium or web/dist).
test-web: web
	$(GO) test -race ./web/ ./gateway/ && $(GO) test -race -run 'TestDashboard' ./e2e/

clean-web:
	rm -rf web/dist web/node_modules
