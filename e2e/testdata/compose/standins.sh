#!/usr/bin/env bash
# Makes what the compose end-to-end test (e2e/compose_test.go) needs on a
# machine that can reach Debian's mirror and the Go module proxy but no
# container registry, and keeps it between runs:
#
#   - the Compose v2 CLI plugin (docker compose), built through the Go
#     module proxy when `docker compose version` fails;
#   - viber-e2e/debian:bookworm, a Debian base imported from a debootstrap
#     minbase folder (stand-in for debian:bookworm-slim);
#   - viber-e2e/nats:<version>, nats-server at our go.mod's version on that
#     base (stand-in for nats:2.11-alpine).
#
# Viber's own image is built by the test itself, from the project's
# Dockerfile. Everything is cached under $VIBER_E2E_CACHE (default
# ~/.cache/viber-compose-e2e); images stay in the engine. Run from anywhere;
# needs a running Docker engine, debootstrap (as root) and Go.
#
# Exit codes: 0 ready; 3 a prerequisite is missing (the message says which;
# the test skips with it); anything else a failure.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cache="${VIBER_E2E_CACHE:-$HOME/.cache/viber-compose-e2e}"
compose_version="${VIBER_E2E_COMPOSE_VERSION:-v2.40.3}"
base_image="viber-e2e/debian:bookworm"
mkdir -p "$cache"

missing() { echo "standins: $*" >&2; exit 3; }
step() { echo "standins: $*" >&2; }

command -v docker >/dev/null || missing "no docker client (apt-get install docker.io)"
docker info >/dev/null 2>&1 || missing "no Docker engine answers (start dockerd as root: dockerd --storage-driver=vfs)"

# --- docker compose (v2) ---------------------------------------------
if ! docker compose version >/dev/null 2>&1; then
	plugin="$HOME/.docker/cli-plugins/docker-compose"
	if [[ ! -x "$cache/docker-compose-$compose_version" ]]; then
		command -v go >/dev/null || missing "no Go toolchain to build docker compose"
		step "building docker compose $compose_version through the Go module proxy"
		src="$cache/compose-src"
		mkdir -p "$src"
		# Compose's go.mod has exclude directives, so `go install pkg@v`
		# refuses it: build it as a dependency of a throwaway module.
		cat >"$src/go.mod" <<MOD
module viber.local/composebuild

go 1.26

require github.com/docker/compose/v2 $compose_version

exclude (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
)
MOD
		printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/docker/compose/v2/cmd"\n' >"$src/tools.go"
		(cd "$src" && GOFLAGS=-mod=mod go mod tidy &&
			CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
				-ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$compose_version" \
				-o "$cache/docker-compose-$compose_version.tmp" github.com/docker/compose/v2/cmd)
		mv "$cache/docker-compose-$compose_version.tmp" "$cache/docker-compose-$compose_version"
	fi
	mkdir -p "$(dirname "$plugin")"
	cp "$cache/docker-compose-$compose_version" "$plugin"
	docker compose version >&2
fi

# --- the Debian base ---------------------------------------------------
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
	if [[ ! -d "$cache/rootfs" ]]; then
		command -v debootstrap >/dev/null || missing "no debootstrap to make a Debian base image (apt-get install debootstrap)"
		[[ $(id -u) == 0 ]] || missing "debootstrap needs root to make the Debian base image"
		step "debootstrap --variant=minbase bookworm (about a minute)"
		rm -rf "$cache/rootfs.tmp"
		debootstrap --variant=minbase bookworm "$cache/rootfs.tmp" >"$cache/debootstrap.log" 2>&1 ||
			{ tail -20 "$cache/debootstrap.log" >&2; exit 1; }
		mv "$cache/rootfs.tmp" "$cache/rootfs"
	fi
	step "importing $base_image"
	tar -C "$cache/rootfs" -c . | docker import - "$base_image" >/dev/null
fi

# --- NATS ----------------------------------------------------------------
nats_version="$(cd "$repo" && go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)"
nats_image="viber-e2e/nats:$nats_version"
if ! docker image inspect "$nats_image" >/dev/null 2>&1; then
	ctx="$cache/nats-$nats_version"
	mkdir -p "$ctx"
	if [[ ! -x "$ctx/nats-server" ]]; then
		step "building nats-server $nats_version (static)"
		(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/nats-server" github.com/nats-io/nats-server/v2)
	fi
	cp "$here/nats.Dockerfile" "$ctx/Dockerfile"
	step "building $nats_image"
	DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$base_image" -t "$nats_image" "$ctx" >/dev/null
fi

echo "BASE_IMAGE=$base_image"
echo "NATS_IMAGE=$nats_image"
