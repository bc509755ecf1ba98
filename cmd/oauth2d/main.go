// Command oauth2d is the OAuth 2.0 authorization server, OpenID provider
// and protected API in one binary, plus the admin commands that manage its
// clients, users and signing keys in Redis.
//
// main only wires the process to run; everything testable lives in run.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default handling so that a
		// second Ctrl-C ends a drain that takes too long.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if msg := errorMessage(err); msg != "" {
		fmt.Fprintln(os.Stderr, "oauth2d:", msg)
	}
	os.Exit(exitCode(err))
}
