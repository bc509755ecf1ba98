package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// Module is a group of routes another package contributes: the OAuth
// endpoints, the login and consent pages, the protected API, the admin
// API. *oauth.Handler satisfies it with its Register method.
type Module interface {
	Register(r gin.IRouter)
}

// ModuleFunc lets a plain function be a Module.
type ModuleFunc func(r gin.IRouter)

// Register calls f.
func (f ModuleFunc) Register(r gin.IRouter) { f(r) }

// Pinger answers whether a dependency is usable; *storage.Store is one.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Check is one readiness dependency, reported by name when it fails.
type Check struct {
	Name   string
	Pinger Pinger
}

// Deps is everything the HTTP layer needs. Only Logger is required.
type Deps struct {
	Logger *slog.Logger
	// Ready lists what /readyz pings (storage, at least).
	Ready []Check
	// ReadyTimeout bounds each readiness ping; default 2s.
	ReadyTimeout time.Duration
	// Modules register their routes, in order, after the built-in ones.
	Modules []Module
	// MaxBodyBytes caps every request body; default 64 KiB.
	MaxBodyBytes int64
	// TrustedProxies are the proxies whose X-Forwarded-For gin believes
	// when it computes the client IP; empty trusts none.
	TrustedProxies []string
	// NewRequestID makes an id for requests that bring none (or a bad
	// one); default 128 random bits.
	NewRequestID func() string
	// Metrics is the registry /metrics serves; New adds the HTTP, Go and
	// process collectors to it. Nil makes a fresh one, which is what
	// most callers want; pass one to add collectors of your own (token
	// counters, say). One registry serves one server: a second New on the
	// same registry fails on the duplicate collectors.
	Metrics *prometheus.Registry
}

// New builds the HTTP handler: a gin engine with the middleware and the
// routes of routes.go. It fails only on a bad TrustedProxies entry or a
// Metrics registry that already holds the HTTP, Go or process collectors.
func New(deps Deps) (http.Handler, error) {
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
	routes(engine, deps, metrics)
	return engine, nil
}
