package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/server"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// loadKeys builds the signing key set from the configured source. With
// keys in Redis it makes sure an active and a next key exist, loads them,
// and returns the worker that keeps reloading them, so that a rotation
// reaches this instance.
//
// The returned restore (nil unless keys.source is redis) puts the keys
// back after Redis lost them (dataGuard).
func loadKeys(ctx context.Context, cfg *config.Config, store *storage.Store, logger *slog.Logger) (*token.KeySet, server.Worker, func(context.Context) error, error) {
	k := cfg.Keys
	switch k.Source {
	case config.KeysDir:
		set, err := token.LoadDir(k.Dir, k.Algorithm, k.IDTokenAlgorithm)
		if err != nil {
			return nil, nil, nil, usage(fmt.Errorf("config: keys.dir: %w", err))
		}
		return set, nil, nil, nil
	case config.KeysRedis:
		enc, err := token.ParseEncryptionKey(k.EncryptionKey)
		if err != nil {
			return nil, nil, nil, usage(fmt.Errorf("config: keys.encryption_key: %w", err))
		}
		set, err := token.NewKeySet(k.Algorithm, k.IDTokenAlgorithm)
		if err != nil {
			return nil, nil, nil, usage(fmt.Errorf("config: keys.algorithm: %w", err))
		}
		if err := token.EnsureKeys(ctx, store, enc, set.SigningAlgorithms(), cfg.Tokens.MaxLifetime(), time.Now()); err != nil {
			return nil, nil, nil, fmt.Errorf("serve: %w", err)
		}
		src, err := token.NewStoreSource(set, store, enc, logger, time.Now)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("serve: %w", err)
		}
		if err := src.Reload(ctx); err != nil {
			return nil, nil, nil, fmt.Errorf("serve: %w", err)
		}
		restore := func(ctx context.Context) error {
			n, err := src.Restore(ctx)
			if err != nil {
				return err
			}
			if n > 0 {
				logger.Error("Redis lost the signing keys; put back the ones this instance holds, so tokens signed before stay valid", "restored", n)
			}
			// With none held, new keys: every token signed before is invalid.
			if err := token.EnsureKeys(ctx, store, enc, set.SigningAlgorithms(), cfg.Tokens.MaxLifetime(), time.Now()); err != nil {
				return err
			}
			return src.Reload(ctx)
		}
		return set, func(ctx context.Context) error {
			src.Run(ctx, token.DefaultReloadInterval)
			return nil
		}, restore, nil
	default:
		set, err := token.NewDevKeySet(k.Algorithm, k.IDTokenAlgorithm, logger, time.Now)
		if err != nil {
			return nil, nil, nil, usage(fmt.Errorf("config: keys.algorithm: %w", err))
		}
		return set, nil, nil, nil
	}
}

func keysCommand(ctx context.Context, e env, args []string) error {
	return subcommand(e, "keys", args, map[string]func([]string) error{
		"list":   func(a []string) error { return keysList(ctx, e, a) },
		"rotate": func(a []string) error { return keysRotate(ctx, e, a) },
	})
}

// keysSetup parses the flags of a keys command and opens the key store,
// which exists only when keys.source is redis.
func keysSetup(ctx context.Context, e env, name string, args []string) (*config.Config, *storage.Store, bool, error) {
	fs := newFlagSet(e, name)
	fl := config.BindFlags(fs, "redis.", "keys.", "tokens.", "log.")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, 0); err != nil {
		return nil, nil, false, err
	}
	cfg, err := loadConfig(e, fl)
	if err != nil {
		return nil, nil, false, err
	}
	if cfg.Keys.Source != config.KeysRedis {
		return nil, nil, false, usagef("%s: keys.source is %q: only keys kept in Redis (keys.source: redis) are managed here; "+
			"generated keys live in one server's memory, and a key directory is rotated by adding PEM files", name, cfg.Keys.Source)
	}
	store, err := openAdminStore(ctx, e, cfg, name)
	if err != nil {
		return nil, nil, false, err
	}
	return cfg, store, *asJSON, nil
}

func keysList(ctx context.Context, e env, args []string) error {
	_, store, asJSON, err := keysSetup(ctx, e, "keys list", args)
	if err != nil {
		return err
	}
	defer store.Close()
	infos, err := token.List(ctx, store)
	if err != nil {
		return fmt.Errorf("keys list: %w", err)
	}
	return printKeys(e.stdout, infos, asJSON)
}

func keysRotate(ctx context.Context, e env, args []string) (err error) {
	cfg, store, asJSON, err := keysSetup(ctx, e, "keys rotate", args)
	if err != nil {
		return err
	}
	defer store.Close()
	defer func() { auditChange(ctx, e, cfg, store, "keys rotate", err, "") }()
	enc, err := token.ParseEncryptionKey(cfg.Keys.EncryptionKey)
	if err != nil {
		return usage(fmt.Errorf("config: keys.encryption_key: %w", err))
	}
	algs := []string{cfg.Keys.Algorithm}
	if cfg.Keys.IDTokenAlgorithm != cfg.Keys.Algorithm {
		algs = append(algs, cfg.Keys.IDTokenAlgorithm)
	}
	var infos []token.KeyInfo
	for _, alg := range algs {
		if infos, err = token.Rotate(ctx, store, enc, alg, cfg.Tokens.MaxLifetime(), time.Now()); err != nil {
			return fmt.Errorf("keys rotate: %s: %w", alg, err)
		}
	}
	return printKeys(e.stdout, infos, asJSON)
}

func printKeys(w io.Writer, infos []token.KeyInfo, asJSON bool) error {
	if asJSON {
		return writeJSON(w, map[string]any{"keys": infos})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tNOT AFTER")
	for _, k := range infos {
		notAfter := "-"
		if !k.NotAfter.IsZero() {
			notAfter = k.NotAfter.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State, k.CreatedAt.UTC().Format(time.RFC3339), notAfter)
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
