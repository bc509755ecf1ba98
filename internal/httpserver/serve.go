package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// NewServer wraps h in an http.Server with timeouts, so a slow or idle
// client cannot hold a connection forever (slowloris), and a TLS floor.
func NewServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// ServeOptions says how Serve runs.
type ServeOptions struct {
	// CertFile and KeyFile, both set, make Serve terminate TLS.
	CertFile, KeyFile string
	// Draining, when set, is marked as soon as ctx ends, so that /readyz
	// (which lists it among its checks) answers 503 from that moment.
	Draining *Draining
	// DrainDelay is how long Serve keeps serving after ctx ends, so that
	// load balancers see /readyz fail and stop sending first.
	DrainDelay time.Duration
	// Drain bounds how long in-flight requests may finish after the
	// delay, once the listener and idle connections are closed.
	Drain time.Duration
}

// Draining is the readiness check that fails once shutdown has begun.
type Draining struct{ on atomic.Bool }

// Start marks the server as shutting down.
func (d *Draining) Start() { d.on.Store(true) }

// Ping fails once Start was called.
func (d *Draining) Ping(context.Context) error {
	if d.on.Load() {
		return errors.New("httpserver: shutting down")
	}
	return nil
}

// Serve serves srv on ln until ctx ends. Then it marks opts.Draining
// (readiness fails at once), keeps serving for opts.DrainDelay while load
// balancers take the instance out, and only then stops accepting
// connections, closes idle keep-alive connections and waits up to
// opts.Drain for in-flight requests before closing the rest. It returns
// nil after a clean drain, an error if serving failed or the drain timed
// out.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, opts ServeOptions) error {
	served := make(chan error, 1)
	go func() {
		if opts.CertFile != "" && opts.KeyFile != "" {
			served <- srv.ServeTLS(ln, opts.CertFile, opts.KeyFile)
		} else {
			served <- srv.Serve(ln)
		}
	}()

	select {
	case err := <-served:
		return fmt.Errorf("httpserver: serve: %w", err)
	case <-ctx.Done():
	}
	if opts.Draining != nil {
		opts.Draining.Start()
	}
	if opts.DrainDelay > 0 {
		select {
		case err := <-served:
			return fmt.Errorf("httpserver: serve: %w", err)
		case <-time.After(opts.DrainDelay):
		}
	}

	// The parent ctx is done; the drain needs a deadline of its own.
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Drain)
	defer cancel()
	shutdownErr := srv.Shutdown(drainCtx)
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("httpserver: serve: %w", err)
	}
	if shutdownErr != nil {
		_ = srv.Close()
		return fmt.Errorf("httpserver: shutdown: in-flight requests did not finish within %s: %w", opts.Drain, shutdownErr)
	}
	return nil
}
