# Viber — common tasks. `make run` starts everything on this machine;
# `make test` runs every test (the command CI runs).

GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/viberhq/viber/internal/command.Version=$(VERSION)

.PHONY: all build run test vet fmt generate bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

run:
	$(GO) run ./cmd/viber up

generate:
	$(GO) generate ./...

vet:
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet ./...

test: vet
	$(GO) test -race -timeout 20m ./...

bench:
	$(GO) run ./cmd/viber bench --json

clean:
	rm -rf $(BIN)
