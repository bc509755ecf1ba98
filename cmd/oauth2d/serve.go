package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/bootstrap"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/httpserver"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/server"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/templates"
)

func serve(ctx context.Context, e env, args []string) error {
	flags := newFlagSet(e, "serve")
	flags.Usage = func() {
		fmt.Fprint(e.stderr, topUsage)
		fmt.Fprintln(e.stderr, "\nFlags of serve:")
		flags.PrintDefaults()
	}
	fl := config.BindFlags(flags)
	if err := parseFlags(flags, args, 0); err != nil {
		return err
	}
	cfg, err := loadConfig(e, fl)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, e.stderr)
	start := time.Now()
	storage.LogRedisTo(logger)
	tracer, stopTracing, err := startTracing(ctx, e.getenv, logger)
	if err != nil {
		return err
	}
	// Runs last, after the server and its workers stopped: the spans of
	// the drain are flushed too, within a bound of their own.
	defer func() {
		flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingFlushTimeout)
		defer cancel()
		if err := stopTracing(flush); err != nil {
			logger.Warn("tracing: flush on shutdown", "err", err)
		}
	}()

	// The bootstrap file is configuration too: read and checked before
	// anything is connected to.
	bootstrapFile, err := readBootstrap(cfg, logger)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, logger, tracer)
	if err != nil {
		return err
	}
	defer store.Close()
	bootstrapper, err := newBootstrapper(cfg, bootstrapFile, store, logger)
	if err != nil {
		return err
	}
	if err := bootstrapper(ctx); err != nil {
		return err
	}
	// Listen before anything starts in the background, so that a busy port
	// ends the run before there is background work to stop.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s (addr): %w", cfg.Addr, err)
	}
	defer ln.Close()
	// Every goroutine that outlives a request runs in this group: it stops
	// when the server stops (or any of them fails) and is waited for.
	group, groupCtx := errgroup.WithContext(ctx)
	// The workers and subscriptions live until Serve has returned, not
	// until the signal: the instance answers requests through its drain,
	// and must keep learning of revocations and changes while it does.
	// A failing goroutine still stops everything: groupCtx ends Serve,
	// whose return ends them.
	life, endLife := context.WithCancel(context.WithoutCancel(groupCtx))
	defer endLife()
	keys, keyWorker, restoreKeys, err := loadKeys(life, cfg, store, logger)
	if err != nil {
		return err
	}
	// One checker for the token endpoint and the login page, so that its
	// bound on password and secret checks in flight holds for both.
	checker, err := secret.NewChecker(runtime.GOMAXPROCS(0), nil)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	metrics := prometheus.NewRegistry()
	srv, err := server.New(life, server.Deps{
		Config: cfg, Store: store, Keys: keys, Logger: logger, Metrics: metrics, Checker: checker,
		ScopeTexts: bootstrapFile.ScopeTexts(), Templates: templates.FS, TracerProvider: tracer,
	})
	if err != nil {
		return err
	}
	workers := srv.Workers
	if keyWorker != nil {
		workers = append(workers, keyWorker)
	}
	guard := newDataGuard(store, func(ctx context.Context) error {
		if err := bootstrapper(ctx); err != nil {
			return err
		}
		if restoreKeys != nil {
			if err := restoreKeys(ctx); err != nil {
				return err
			}
		}
		for _, drop := range srv.OnDataLoss {
			drop()
		}
		return nil
	}, logger)
	if err := guard.start(ctx); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	workers = append(workers, guard.Run)
	draining := &httpserver.Draining{}
	ready := []httpserver.Check{{Name: "shutdown", Pinger: draining}, {Name: "storage", Pinger: store}, {Name: "data", Pinger: guard}}
	handler, err := httpserver.New(httpserver.Deps{
		Logger:         logger,
		Ready:          append(ready, srv.Checks...),
		Handlers:       srv.Handlers,
		MaxBodyBytes:   cfg.HTTP.MaxBodyBytes,
		TrustedProxies: cfg.HTTP.TrustedProxies,
		Issuer:         cfg.Issuer,
		HSTSMaxAge:     cfg.HTTP.HSTSMaxAge,
		Metrics:        metrics,
		TracerProvider: tracer,
	})
	if err != nil {
		// Metrics and handlers are ours and valid; only the proxies come
		// from the configuration.
		return usage(fmt.Errorf("config: http.trusted_proxies: %w", err))
	}
	for _, run := range workers {
		group.Go(func() error { return run(life) })
	}
	logger.Info("oauth2d listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer,
		"tls", cfg.TLS.Enabled(), "embedded_redis", store.Embedded(), "insecure_dev", cfg.InsecureDev,
		"startup_ms", time.Since(start).Milliseconds())
	httpSrv := httpserver.NewServer(handler, logger)
	for _, f := range srv.OnShutdown {
		httpSrv.RegisterOnShutdown(f)
	}
	group.Go(func() error {
		defer endLife()
		return httpserver.Serve(groupCtx, httpSrv, ln, httpserver.ServeOptions{
			CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
			Draining: draining, DrainDelay: cfg.HTTP.DrainDelay, Drain: cfg.HTTP.ShutdownTimeout,
		})
	})
	if err := group.Wait(); err != nil {
		return err
	}
	logger.Info("oauth2d stopped")
	return nil
}

// newBootstrapper returns what upserts the bootstrap file f: at start-up,
// and again whenever Redis lost its data (dataGuard), with one Applier so
// that users come back under their IDs. Without a file an empty one is
// applied, so that what an earlier file declared is released to the
// admin API.
func newBootstrapper(cfg *config.Config, f *bootstrap.File, store *storage.Store, logger *slog.Logger) (func(context.Context) error, error) {
	policy, err := account.PolicyOf(cfg)
	if err != nil {
		return nil, usage(err)
	}
	applier := bootstrap.NewApplier(store, secret.NewHasher(secret.DefaultParams()), logger, time.Now)
	return func(ctx context.Context) error {
		if _, err := applier.Apply(ctx, f, policy); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	}, nil
}

// readBootstrap loads and checks the configured bootstrap file; an empty
// one when there is none. A file that is missing at the default path is
// skipped (the binary may run outside the repository); a file that is
// named, unreadable or invalid is a configuration error, and so is a demo
// file (demo: true, public passwords) on an issuer others reach.
func readBootstrap(cfg *config.Config, logger *slog.Logger) (*bootstrap.File, error) {
	if cfg.Bootstrap == "" {
		return &bootstrap.File{}, nil
	}
	f, err := bootstrap.Load(cfg.Bootstrap)
	switch {
	case errors.Is(err, fs.ErrNotExist) && cfg.Bootstrap == config.DefaultBootstrap:
		logger.Info("no bootstrap file; starting without predefined clients and users", "path", cfg.Bootstrap)
		return &bootstrap.File{}, nil
	case err != nil:
		return nil, usage(fmt.Errorf("config: bootstrap: %w", err))
	}
	var errs []error
	if f.Demo {
		errs = append(errs, cfg.CheckDemoBootstrap(cfg.Bootstrap))
	}
	policy, err := account.PolicyOf(cfg)
	if err != nil {
		return nil, usage(err)
	}
	if err := f.Validate(policy); err != nil {
		errs = append(errs, fmt.Errorf("config: bootstrap: %s: %w", cfg.Bootstrap, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, usage(err)
	}
	for _, w := range f.PasswordWarnings() {
		logger.Warn("bootstrap: a password the account policy would refuse if chosen now; choose another for anything but a demo",
			"path", cfg.Bootstrap, "problem", w)
	}
	return f, nil
}
