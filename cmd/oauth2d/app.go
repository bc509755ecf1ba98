package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/tracing"
)

// loadConfig loads and validates the configuration; every problem is a
// usage error naming its setting.
func loadConfig(e env, fl *config.Flags) (*config.Config, error) {
	cfg, err := config.Load(fl, e.getenv)
	if err != nil {
		return nil, usage(err)
	}
	errs := []error{cfg.Validate()}
	if cfg.Keys.Source == config.KeysRedis && cfg.Keys.EncryptionKey != "" {
		if _, err := token.ParseEncryptionKey(cfg.Keys.EncryptionKey); err != nil {
			errs = append(errs, fmt.Errorf("config: keys.encryption_key: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, usage(err)
	}
	return cfg, nil
}

// newLogger is the process's logger. A line logged within a traced
// request carries its trace_id and span_id (tracing.LogHandler).
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(tracing.LogHandler(h))
}

// openStore opens the configured Redis; tp traces its commands (nil: off).
func openStore(ctx context.Context, cfg *config.Config, logger *slog.Logger, tp trace.TracerProvider) (*storage.Store, error) {
	return storage.Open(ctx, storage.Options{
		URL:            cfg.Redis.URL,
		Prefix:         cfg.Redis.Prefix,
		Logger:         logger,
		Now:            time.Now,
		Timeout:        cfg.Redis.Timeout,
		TracerProvider: tp,
		MinReplicasAck: cfg.Redis.MinReplicasAck,
	})
}

// openAdminStore opens the configured Redis for an admin command. The
// embedded Redis lives only inside a running server, so writing to a fresh
// one here would silently change nothing.
func openAdminStore(ctx context.Context, e env, cfg *config.Config, cmd string) (*storage.Store, error) {
	if cfg.Redis.URL == "" {
		return nil, usagef("%s: redis.url is empty, and the embedded Redis exists only inside the running server, so this command would change nothing. "+
			"To add clients or users to a running server that uses the embedded Redis, call its admin API (/admin/v1/clients, /admin/v1/users, "+
			"with a token of scope admin), or add them to the bootstrap file (%s) and restart it; see \"Adding your own client\" in README.md. "+
			"To manage a Redis server, set OAUTH2D_REDIS_URL or --redis-url", cmd, config.EnvName("bootstrap"))
	}
	store, err := openStore(ctx, cfg, newLogger(cfg, e.stderr), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return store, nil
}

// adminFlagPrefixes are the settings admin commands accept as flags; the
// rest still come from the file and the environment.
func adminFlagPrefixes() []string { return []string{"redis.", "insecure_dev", "outbound.", "log."} }

// readSecretLine reads one line from r (a secret or password piped in, so
// that it never appears in argv or the shell history).
func readSecretLine(r io.Reader, what string, maxLen int) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, int64(maxLen)+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	if !strings.HasSuffix(line, "\n") && len(line) > maxLen {
		return "", usagef("%s on stdin is longer than %d characters", what, maxLen)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usagef("%s: expected on stdin (one line), got nothing", what)
	}
	return line, nil
}
