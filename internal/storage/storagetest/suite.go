package storagetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// NewStore returns a store on a fresh, empty key prefix, closed when t
// ends.
type NewStore func(t *testing.T) storage.Storage

// NewStoreAt is NewStore for a store whose clock (storage.Options.Now) is
// now; nil means time.Now. Redis's own TTLs still run on real time.
type NewStoreAt func(t *testing.T, now func() time.Time) storage.Storage

// redisBacked is what the few tests that look beneath the contract need:
// the keys left behind, connections killed as a failover would.
// *storage.Store, the one backend, has it.
type redisBacked interface {
	Redis() redis.UniversalClient
	Prefix() string
	Embedded() bool
}

// Run runs the whole suite. Subtests run in parallel so the few real
// waits for TTLs overlap. Most groups use the real clock; those that
// move time get the store's clock.
func Run(t *testing.T, newStoreAt NewStoreAt) {
	newStore := func(t *testing.T) storage.Storage { return newStoreAt(t, nil) }
	groups := []struct {
		name string
		run  func(t *testing.T, newStore NewStore)
	}{
		{"Clients", testClients},
		{"SelfRegistered", testSelfRegistered},
		{"Users", testUsers},
		{"Bootstrap", testBootstrap},
		{"Resources", testResources},
		{"Codes", testCodes},
		{"Refresh", testRefresh},
		{"RotationChecks", testRotationChecks},
		{"Revocations", testRevocations},
		{"Cutoffs", testCutoffs},
		{"RevocationFeed", testRevocationFeed},
		{"AccessRevoked", testAccessRevoked},
		{"Consents", testConsents},
		{"SigningKeys", testSigningKeys},
		{"Comments", testComments},
		{"Expiry", testExpiry},
		{"SessionLogins", testSessionLogins},
		{"UserSessionIndex", testUserSessionIndex},
		{"UserClients", testUserClients},
		{"LogoutQueue", testLogoutQueue},
		{"ProofReplay", testProofReplay},
		{"AssertionReplay", testAssertionReplay},
		{"BoundFamily", testBoundFamily},
		{"PushedRequests", testPushedRequests},
		{"ChallengeSessions", testChallengeSessions},
		{"Devices", testDevices},
		{"Passkeys", testPasskeys},
		{"Redelivery", testRedelivery},
		{"SecondFactors", func(t *testing.T, _ NewStore) { testSecondFactors(t, newStoreAt) }},
		{"FamilyIndex", func(t *testing.T, _ NewStore) { testFamilyIndex(t, newStoreAt) }},
		{"Grants", func(t *testing.T, _ NewStore) { testGrants(t, newStoreAt) }},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, newStore)
		})
	}
}

// clock is a store's clock that a test moves by hand.
type clock struct{ ms atomic.Int64 }

// newClock returns a clock standing at now, to the millisecond.
func newClock() *clock {
	c := &clock{}
	c.set(time.Now())
	return c
}

func (c *clock) Now() time.Time      { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *clock) set(t time.Time)     { c.ms.Store(t.UnixMilli()) }
func (c *clock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// redisOf returns s as redisBacked. A store without it can only be a
// mistake in the caller of Run, so it fails t rather than skipping.
func redisOf(t *testing.T, s storage.Storage) redisBacked {
	t.Helper()
	rb, ok := s.(redisBacked)
	if !ok {
		t.Fatalf("storagetest: %T does not expose its Redis", s)
	}
	return rb
}

// eventually polls cond until it holds and reports whether it did within
// a deadline far beyond anything the condition should take: the tests
// assert that things happen and in which order, not how fast.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// race calls f(0) … f(n-1), each in its own goroutine, all released at
// once so they really contend, and returns when every call has returned.
func race(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// raceWins races n calls of try (see race) and returns how many won:
// try reports a win, a plain loss, or an error, which fails t.
func raceWins(t *testing.T, n int, try func() (won bool, err error)) int {
	var wins atomic.Int32
	race(n, func(int) {
		won, err := try()
		if err != nil {
			t.Error(err)
		}
		if won {
			wins.Add(1)
		}
	})
	return int(wins.Load())
}

// sleepUntil waits for the wall clock to pass at (a lower bound only:
// waiting longer never changes an outcome).
func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// ms drops what JSON and Redis do not keep (monotonic clock, sub-ms), so
// times compare with Equal after a round trip.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

func newHash() string { return secret.SHA256(secret.NewToken(32)) }

func newID() string { return secret.NewToken(12) }

// parallel marks a subtest parallel; the helper keeps call sites short.
func parallel(t *testing.T) { t.Helper(); t.Parallel() }
