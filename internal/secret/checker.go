package secret

import (
	"context"
	"fmt"

	"github.com/oauth2d/oauth2d/internal/tracing"
)

// Checker verifies presented secrets (passwords, client secrets) against
// stored hashes for every endpoint of one process, with two guarantees:
//
//   - a missing record costs what a wrong secret costs: Check with an
//     empty hash verifies against a dummy hash and fails, so response time
//     does not tell whether a user or client exists;
//   - at most maxInFlight full checks run at once. Each argon2id check
//     holds ~19 MiB, so guesses sent in bulk (to the login page and the
//     token endpoint alike) queue instead of exhausting memory.
type Checker struct {
	slots  chan struct{}
	dummy  string
	verify func(hash, presented string) (bool, error)
}

// NewChecker returns a Checker running at most maxInFlight checks at once
// with verify (Verify when nil; tests pass one that counts).
func NewChecker(maxInFlight int, verify func(hash, presented string) (bool, error)) (*Checker, error) {
	if maxInFlight < 1 {
		maxInFlight = 1
	}
	if verify == nil {
		verify = Verify
	}
	dummy, err := Hash(NewToken(32))
	if err != nil {
		return nil, fmt.Errorf("secret: dummy hash: %w", err)
	}
	return &Checker{slots: make(chan struct{}, maxInFlight), dummy: dummy, verify: verify}, nil
}

// Check reports whether presented matches hash, once a slot is free. An
// empty hash stands for a record that does not exist: the check still
// runs, against the dummy hash, and reports false.
// The span it records covers the wait for a slot too: a queue of guesses
// shows as checks that take long before the hash starts (the event).
func (c *Checker) Check(ctx context.Context, hash, presented string) (ok bool, err error) {
	_, span := tracing.Start(ctx, "secret.check")
	defer func() { tracing.End(span, err) }()
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-c.slots }()
	span.AddEvent("slot acquired")
	if hash == "" {
		_, _ = c.verify(c.dummy, presented)
		return false, nil
	}
	return c.verify(hash, presented)
}

// MaxInFlight is the number of checks that may run at once.
func (c *Checker) MaxInFlight() int { return cap(c.slots) }
