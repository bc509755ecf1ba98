package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes (DESIGN.md §6).
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure: Redis down, port taken, ...
	exitUsage   = 2 // bad usage or configuration; the message names the setting
)

// usageError marks an error as the user's to fix: bad flags, arguments or
// configuration. It maps to exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

func usagef(format string, args ...any) error { return usage(fmt.Errorf(format, args...)) }

func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	default:
		return exitFailure
	}
}

// errorMessage is what main prints for err; "" when there is nothing to
// say (success, or -h whose usage the flag package already printed).
func errorMessage(err error) string {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ""
	}
	return err.Error()
}

// env is what every command gets from the process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

const topUsage = `Usage: oauth2d [command] [flags]

Commands:
  serve                         run the server (the default)
  client create|list|get|delete manage OAuth clients
  user create|list|delete       manage users (passwords are read from stdin)
  resource put|list|get|delete  manage resource servers (RFC 8707)
  keys list|rotate              manage signing keys kept in Redis
  healthcheck                   exit 0 if the local server is ready (container probes)

Run "oauth2d <command> -h" for the flags of a command. Every setting can
also come from the configuration file (--config) or an OAUTH2D_* variable.
`

// run is the whole program: main gives it the process's arguments,
// environment and streams; tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return serve(ctx, e, args)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, e, rest)
	case "client":
		return clientCommand(ctx, e, rest)
	case "user":
		return userCommand(ctx, e, rest)
	case "resource":
		return resourceCommand(ctx, e, rest)
	case "keys":
		return keysCommand(ctx, e, rest)
	case "healthcheck":
		return healthcheck(ctx, e, rest)
	case "help":
		fmt.Fprint(stdout, topUsage)
		return nil
	default:
		fmt.Fprint(stderr, topUsage)
		return usagef("unknown command %q", cmd)
	}
}

// subcommand picks the verb of a command group ("client create").
func subcommand(e env, group string, args []string, verbs map[string]func([]string) error) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(e.stderr, topUsage)
		return usagef("%s: missing subcommand", group)
	}
	f, ok := verbs[args[0]]
	if !ok {
		fmt.Fprint(e.stderr, topUsage)
		return usagef("%s: unknown subcommand %q", group, args[0])
	}
	return f(args[1:])
}

// newFlagSet returns a flag set that reports errors instead of exiting.
// Its name is the command without the program name ("client get"): main
// already puts "oauth2d:" before every error, and errors carry the name.
func newFlagSet(e env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage of oauth2d %s:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns a flag error into a usage error; extra
// positional arguments are refused unless maxArgs allows them. Flags may
// come before or after the positional arguments (`client get my-app
// --json`); a "--" ends the flags. Afterwards fs.Args() holds the
// positional arguments, as after flag.FlagSet.Parse.
func parseFlags(fs *flag.FlagSet, args []string, maxArgs int) error {
	flagArgs, positional := splitFlags(fs, args)
	if err := fs.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usage(fmt.Errorf("%s: %w", fs.Name(), err))
	}
	// Parse again with only the positional arguments, after a "--" so that
	// none is read as a flag: this is how fs.Args() comes to hold them.
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return usage(fmt.Errorf("%s: %w", fs.Name(), err))
	}
	if fs.NArg() > maxArgs {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(maxArgs))
	}
	return nil
}

// splitFlags separates the flags of fs (with their values) from the
// positional arguments, wherever they appear; the standard flag package
// stops at the first positional one. Everything after "--" is positional.
// An unknown flag is kept with the flags so that Parse reports it.
func splitFlags(fs *flag.FlagSet, args []string) (flagArgs, positional []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			return flagArgs, append(positional, args[i+1:]...)
		case len(arg) < 2 || arg[0] != '-': // "-" alone is an argument too
			positional = append(positional, arg)
		default:
			flagArgs = append(flagArgs, arg)
			name := strings.TrimLeft(arg, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && i+1 < len(args) {
				i++ // the flag's value, even if it looks like a flag or is "--"
				flagArgs = append(flagArgs, args[i])
			}
		}
	}
	return flagArgs, positional
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
