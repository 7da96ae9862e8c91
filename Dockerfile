# Viber: one image with viber, vibergw and viberd. Multi-stage: the web
# dashboard is built with Node, the Go binaries statically, and the runtime
# image is a small Debian with a shell (the agent's shell tool needs one),
# git, curl (the compose healthchecks) and a non-root user.
#
# The base images are build arguments; the defaults are the official images.
# A mirror or a local copy replaces them without editing this file:
#
#   docker build --build-arg RUNTIME_IMAGE=mirror.example/debian:bookworm-slim \
#     --build-arg GO_IMAGE=mirror.example/golang:1.26-bookworm \
#     --build-arg NODE_IMAGE=mirror.example/node:20-bookworm-slim -t viber:local .
#
# The target "prebuilt" packs binaries built elsewhere instead of building
# them here: its build context is a folder holding only static viber,
# vibergw and viberd (CGO_ENABLED=0, with web/dist built first so the
# dashboard is embedded), e.g.
#
#   make web && CGO_ENABLED=0 make build && \
#     docker build --target prebuilt -f Dockerfile -t viber:local bin/
#
# (the compose end-to-end test, e2e/compose_test.go, builds the image so).

ARG NODE_IMAGE=node:20-bookworm-slim
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# The runtime base comes first so that `--target prebuilt` needs neither
# Node nor Go, even with the classic builder (which builds every stage
# before the target).
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git procps curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 viber \
 && mkdir -p /workspace /home/viber/.viber \
 && chown viber:viber /workspace /home/viber/.viber
# /home/viber/.viber exists and belongs to viber so that a named volume
# mounted there (the compose file's edge-data) starts with that owner:
# Docker copies the image's folder, owner included, into a new volume.
USER viber
WORKDIR /home/viber
ENV VIBER_HOME=/home/viber/.viber \
    VIBER_WORKSPACE=/workspace
EXPOSE 4222 6009
# All in one container. NATS must listen on the container's interfaces to be
# published, and `viber up` has no NATS auth, hence --insecure: publish 4222
# on the host's loopback only (-p 127.0.0.1:4222:4222), or run vibergw
# --auth for a networked set-up (docs/auth.md).
CMD ["viber", "up", "--insecure", "--nats-listen", "0.0.0.0:4222", "--http-listen", "0.0.0.0:6009", "--data", "/home/viber/.viber/data"]

FROM runtime AS prebuilt
COPY viber vibergw viberd /usr/local/bin/

FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY schemas/ /src/schemas/
COPY web/ ./
RUN npm run check:types && npm run build

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/dist ./web/dist
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/viberhq/viber/internal/command.Version=${VERSION}" \
      -o /out/ ./cmd/viber ./cmd/vibergw ./cmd/viberd

FROM runtime AS release
COPY --from=build /out/ /usr/local/bin/
