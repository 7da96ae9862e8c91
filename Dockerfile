# syntax=docker/dockerfile:1
# Viber: one image with viber, vibergw and viberd. Multi-stage: the web
# dashboard is built with Node, the Go binaries statically, and the runtime
# image is a small Debian with a shell (the agent's shell tool needs one),
# git and a non-root user.

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY schemas/ /src/schemas/
COPY web/ ./
RUN npm run check:types && npm run build

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/dist ./web/dist
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/viberhq/viber/internal/command.Version=${VERSION}" \
      -o /out/ ./cmd/viber ./cmd/vibergw ./cmd/viberd

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git procps \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 viber \
 && mkdir /workspace && chown viber:viber /workspace
COPY --from=build /out/ /usr/local/bin/
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
