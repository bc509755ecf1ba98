# syntax=docker/dockerfile:1

# The Go release go.mod asks for (its `go` line); a test keeps them equal.
ARG GO_VERSION=1.26.8

# Build a static binary (no cgo), so the runtime image needs no libc.
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/oauth2d ./cmd/oauth2d

# distroless/static: no shell, no package manager, runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/oauth2d /app/oauth2d
# Only the production-safe configuration: no insecure_dev, no demo clients
# or users (whose secrets are public), JSON logs. It deliberately lacks an
# issuer, a Redis URL and a key encryption key, so the server refuses to
# start, naming each, until OAUTH2D_ISSUER, OAUTH2D_REDIS_URL and
# OAUTH2D_KEY_ENCRYPTION_KEY are given. The demo setup is
# docker-compose.demo.yml.
COPY configs/oauth2d.container.yaml /app/configs/oauth2d.container.yaml
ENV OAUTH2D_CONFIG=/app/configs/oauth2d.container.yaml
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/app/oauth2d", "healthcheck"]
ENTRYPOINT ["/app/oauth2d"]
CMD ["serve"]
