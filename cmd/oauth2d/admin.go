package main

import (
	"context"
	"flag"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// adminCmd is the common part of an admin command: the config flags and
// --json on one flag set; parse, then load the config, then connect.
type adminCmd struct {
	fs     *flag.FlagSet
	cfl    *config.Flags
	asJSON *bool
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
	return loadConfig(e, a.cfl)
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
