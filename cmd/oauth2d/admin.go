package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// adminCmd is the common part of an admin command: the config flags and
// --json on one flag set; parse, then load the config, then connect.
type adminCmd struct {
	fs     *flag.FlagSet
	cfl    *config.Flags
	asJSON *bool
	cfg    *config.Config // set by parse
}

func newAdminCmd(e env, name string) *adminCmd {
	fs := newFlagSet(e, name)
	return &adminCmd{fs: fs, cfl: config.BindFlags(fs, adminFlagPrefixes()...), asJSON: fs.Bool("json", false, "print JSON")}
}

// parse parses args (allowing maxArgs positional ones) and loads the
// configuration, so that bad input fails before Redis is contacted.
func (a *adminCmd) parse(e env, args []string, maxArgs int) (*config.Config, error) {
	if err := parseFlags(a.fs, args, maxArgs); err != nil {
		return nil, err
	}
	cfg, err := loadConfig(e, a.cfl)
	a.cfg = cfg
	return cfg, err
}

func (a *adminCmd) connect(ctx context.Context, e env, cfg *config.Config) (*storage.Store, error) {
	return openAdminStore(ctx, e, cfg, a.fs.Name())
}

// open parses args (no positional ones) and connects.
func (a *adminCmd) open(ctx context.Context, e env, args []string) (*storage.Store, error) {
	cfg, err := a.parse(e, args, 0)
	if err != nil {
		return nil, err
	}
	return a.connect(ctx, e, cfg)
}

// openNamed is open for a command about one record, named by --<flagName>
// or by the single argument; the name is checked before Redis is contacted.
func (a *adminCmd) openNamed(ctx context.Context, e env, args []string, flagName, what string) (string, *storage.Store, error) {
	flagValue := a.fs.String(flagName, "", what+" (or give it as the argument)")
	cfg, err := a.parse(e, args, 1)
	if err != nil {
		return "", nil, err
	}
	name, err := idArg(a.fs, *flagValue, what)
	if err != nil {
		return "", nil, err
	}
	store, err := a.connect(ctx, e, cfg)
	return name, store, err
}

// idArg takes the id from --flag or the single positional argument.
func idArg(fs *flag.FlagSet, flagValue, what string) (string, error) {
	switch {
	case flagValue != "" && fs.NArg() > 0:
		return "", usagef("%s: give the %s once, as an argument or a flag", fs.Name(), what)
	case flagValue != "":
		return flagValue, nil
	case fs.NArg() == 1:
		return fs.Arg(0), nil
	default:
		return "", usagef("%s: missing %s", fs.Name(), what)
	}
}

// auditChange records a change an admin command made, or tried to make
// once connected, as the admin API's Audit does (audit.AdminChange): on
// stderr in the configured log format (log.format) and in the audit
// stream, so that the CLI's changes are in the same trail as the API's.
// The actor is the OS user (the CLI has no token); the resource is the
// command and its record. It returns once the stream entry is written
// (or given up).
func auditChange(ctx context.Context, e env, cfg *config.Config, store *storage.Store, command string, change error, record string) {
	auditChangeBecause(ctx, e, cfg, store, command, change, record, "")
}

// auditChangeBecause is auditChange with a reason saying what a change
// that succeeded did ("second factors removed: totp").
func auditChangeBecause(ctx context.Context, e env, cfg *config.Config, store *storage.Store, command string, change error, record, reason string) {
	o := audit.Options{Logger: newLogger(cfg, e.stderr)}
	if cfg.Audit.Stream {
		o.Redis, o.StreamKey, o.StreamMaxLen = store.Redis(), store.AuditStreamKey(), cfg.Audit.StreamMaxLen
	}
	log, err := audit.New(o)
	if err != nil {
		fmt.Fprintf(e.stderr, "%s: audit: %v\n", command, err)
		return
	}
	ev := audit.Event{Event: audit.AdminChange, Outcome: audit.Success, Actor: "cli:" + e.getenv("USER"),
		Resource: strings.TrimSpace(command + " " + record), Reason: reason}
	if change != nil {
		ev.Outcome, ev.Reason = audit.Failure, change.Error()
	}
	writing, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = log.Run(writing) // writes what is queued before it returns
	}()
	audit.Emit(audit.NewContext(ctx, log), ev)
	stop()
	<-done
}

// sessionEnder is what deleting a user or a client needs to end what was
// issued to it.
type sessionEnder interface {
	RevokeUserFamilies(ctx context.Context, userID, clientID string) ([]*storage.RefreshFamily, error)
	SetCutoff(ctx context.Context, c storage.Cutoff) error
}

var _ sessionEnder = (*storage.Store)(nil)

// revokeAccessTokens makes resource servers refuse every access token of
// principal issued until now. The record may go once the longest-lived
// of those tokens has expired; the leeway covers clock skew.
func revokeAccessTokens(ctx context.Context, s sessionEnder, cfg *config.Config, principal string) error {
	now := time.Now()
	return s.SetCutoff(ctx, storage.Cutoff{
		Principal: principal,
		NotBefore: now,
		Until:     now.Add(cfg.Tokens.MaxLifetime() + token.RotationLeeway),
	})
}
