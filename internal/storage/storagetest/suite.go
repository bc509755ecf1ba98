package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// NewStore returns a store on a fresh, empty key prefix, closed when t
// ends.
type NewStore func(t *testing.T) *storage.Store

// Run runs the whole suite. Subtests run in parallel so the few real
// waits for TTLs overlap.
func Run(t *testing.T, newStore NewStore) {
	groups := []struct {
		name string
		run  func(t *testing.T, newStore NewStore)
	}{
		{"Clients", testClients},
		{"Users", testUsers},
		{"Codes", testCodes},
		{"Refresh", testRefresh},
		{"RotationChecks", testRotationChecks},
		{"Revocations", testRevocations},
		{"AccessRevoked", testAccessRevoked},
		{"Consents", testConsents},
		{"SigningKeys", testSigningKeys},
		{"Expiry", testExpiry},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, newStore)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ms drops what JSON and Redis do not keep (monotonic clock, sub-ms), so
// times compare with Equal after a round trip.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

func newHash() string { return secret.SHA256(secret.NewToken(32)) }

func newID() string { return secret.NewToken(12) }

// parallel marks a subtest parallel; the helper keeps call sites short.
func parallel(t *testing.T) { t.Helper(); t.Parallel() }
