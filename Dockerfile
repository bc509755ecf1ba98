# syntax=docker/dockerfile:1

# Build a static binary (no cgo), so the runtime image needs no libc.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/oauth2d ./cmd/oauth2d

# distroless/static: no shell, no package manager, runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/oauth2d /app/oauth2d
COPY configs/ /app/configs/
USER nonroot:nonroot
# Inside a container the server must listen on every interface; the issuer
# (http://localhost:8080 by default) is what clients on the host see.
ENV OAUTH2D_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/app/oauth2d", "healthcheck"]
ENTRYPOINT ["/app/oauth2d"]
CMD ["serve"]
