package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Pinger answers whether a dependency is usable; *storage.Store and
// *resource.Authenticator are.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Check is one readiness dependency, reported by name when it fails.
type Check struct {
	Name   string
	Pinger Pinger
}

// Deps is everything the HTTP layer needs. Logger and every one of
// Handlers are required.
type Deps struct {
	Logger *slog.Logger
	// Ready lists what /readyz pings (storage, at least).
	Ready []Check
	// ReadyTimeout bounds each readiness ping; default 2s.
	ReadyTimeout time.Duration
	// Handlers serve every route of the route table (routes.go).
	Handlers Handlers
	// MaxBodyBytes caps every request body; default 64 KiB.
	MaxBodyBytes int64
	// TrustedProxies are the proxies whose X-Forwarded-For gin believes
	// when it computes the client IP; empty trusts none.
	TrustedProxies []string
	// Issuer and HSTSMaxAge: when the issuer is https and the max-age is
	// positive, every answer carries Strict-Transport-Security (RFC 6797)
	// with includeSubDomains. The issuer, not the request, says whether
	// the server is reached over TLS: behind a TLS-terminating proxy every
	// request arrives in plain http.
	Issuer     string
	HSTSMaxAge time.Duration
	// NewRequestID makes an id for requests that bring none (or a bad
	// one); default 128 random bits.
	NewRequestID func() string
	// Metrics is the registry /metrics serves; New adds the HTTP, Go and
	// process collectors to it. Nil makes a fresh one, which is what
	// most callers want; pass one to add collectors of your own (token
	// counters, say). One registry serves one server: a second New on the
	// same registry fails on the duplicate collectors.
	Metrics *prometheus.Registry
	// TracerProvider, when set, gives every request but the probes and
	// /metrics a server span (otelgin), continuing a W3C traceparent the
	// caller sent. Nil: tracing off, and no tracing middleware at all.
	TracerProvider trace.TracerProvider
}

// New builds the HTTP handler: a gin engine with the middleware and the
// routes of routes.go. It fails on a missing handler, a bad TrustedProxies
// entry or a Metrics registry that already holds the HTTP, Go or process
// collectors.
func New(deps Deps) (http.Handler, error) {
	if err := deps.Handlers.check(); err != nil {
		return nil, err
	}
	engine, err := newEngine(deps)
	if err != nil {
		return nil, err
	}
	routes(engine, deps.Handlers)
	engine.NoRoute(notFound)
	return engine, nil
}

// newEngine is the gin engine with the middleware and the built-in routes
// (health, readiness, metrics), before the route table.
func newEngine(deps Deps) (*gin.Engine, error) {
	if deps.ReadyTimeout <= 0 {
		deps.ReadyTimeout = 2 * time.Second
	}
	if deps.MaxBodyBytes <= 0 {
		deps.MaxBodyBytes = 64 << 10
	}
	if deps.NewRequestID == nil {
		deps.NewRequestID = randomRequestID
	}
	if deps.Metrics == nil {
		deps.Metrics = prometheus.NewRegistry()
	}
	metrics, err := newHTTPMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	// Release mode keeps gin from printing its debug banner and route list;
	// the mode is process-wide, but every caller wants the same value.
	gin.SetMode(gin.ReleaseMode)
	engine := gin.New()
	// Only the listed proxies may set the client IP through headers; with
	// none, it is the TCP peer (rate limits key on it).
	if err := engine.SetTrustedProxies(deps.TrustedProxies); err != nil {
		return nil, fmt.Errorf("httpserver: trusted proxies: %w", err)
	}
	// Handlers wrapped with gin.WrapF read values through the request
	// context; let gin's context fall back to it too.
	engine.ContextWithFallback = true
	builtins(engine, deps, metrics)
	return engine, nil
}
