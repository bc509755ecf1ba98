package oauth

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

type oneClient struct{ c *storage.Client }

func (o oneClient) GetClient(_ context.Context, id string) (*storage.Client, error) {
	if id != o.c.ID {
		return nil, storage.ErrNotFound
	}
	return o.c, nil
}

// newCountingAuthenticator returns an authenticator for one client whose
// full hash checks are counted and each take at least hold, so that
// concurrent requests overlap.
func newCountingAuthenticator(t *testing.T, clientSecret string, hold time.Duration) (*clientAuthenticator, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	hash, err := secret.Hash(clientSecret)
	if err != nil {
		t.Fatal(err)
	}
	var calls, inFlight, maxInFlight atomic.Int64
	checker, err := secret.NewChecker(runtime.GOMAXPROCS(0), func(h, p string) (bool, error) {
		calls.Add(1)
		n := inFlight.Add(1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		defer inFlight.Add(-1)
		time.Sleep(hold)
		return secret.Verify(h, p)
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := newClientAuthenticator(oneClient{&storage.Client{ID: "app", SecretHash: hash}}, checker, assertionDeps{})
	if err != nil {
		t.Fatal(err)
	}
	return a, &calls, &maxInFlight
}

func authenticateAll(a *clientAuthenticator, n int, presented func(i int) string) []*Error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]*Error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = a.authenticate(context.Background(), clientCredentials{id: "app", secret: presented(i), method: authMethodBasic})
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// A fleet of workers presenting the same new secret at once pays for one
// hash check, not one each; afterwards the secret costs none.
func TestConcurrentAuthenticationSharesOneHashCheck(t *testing.T) {
	a, calls, _ := newCountingAuthenticator(t, "right-secret", 200*time.Millisecond)
	for i, err := range authenticateAll(a, 32, func(int) string { return "right-secret" }) {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d full hash checks for one secret, want 1", n)
	}
	authenticateAll(a, 8, func(int) string { return "right-secret" })
	if n := calls.Load(); n != 1 {
		t.Fatalf("a verified secret was checked again (%d checks)", n)
	}
}

// Wrong secrets in bulk each take a full check, but no more run at once
// than there are slots, so memory stays bounded.
func TestWrongSecretsQueueForHashSlots(t *testing.T) {
	a, calls, maxInFlight := newCountingAuthenticator(t, "right-secret", 20*time.Millisecond)
	errs := authenticateAll(a, 16, func(i int) string { return "wrong-" + string(rune('a'+i)) })
	for i, err := range errs {
		if err == nil || err.Code != "invalid_client" {
			t.Fatalf("request %d: got %v, want invalid_client", i, err)
		}
	}
	if n := calls.Load(); n != 16 {
		t.Fatalf("%d checks, want 16 (distinct wrong secrets must not share a result)", n)
	}
	if m := maxInFlight.Load(); m > int64(a.checker.MaxInFlight()) {
		t.Fatalf("%d checks ran at once, more than the %d slots", m, a.checker.MaxInFlight())
	}
}

// The verified-secret cache is bound to the stored hash: once a client's
// secret is rotated (or the client replaced), the old secret fails at once.
func TestRotatedSecretIsNotServedFromTheCache(t *testing.T) {
	oldHash, err := secret.Hash("old-secret")
	if err != nil {
		t.Fatal(err)
	}
	client := &storage.Client{ID: "app", SecretHash: oldHash}
	checker, err := secret.NewChecker(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newClientAuthenticator(oneClient{client}, checker, assertionDeps{})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(s string) *Error {
		_, e := a.authenticate(context.Background(), clientCredentials{id: "app", secret: s, method: authMethodBasic})
		return e
	}
	if e := auth("old-secret"); e != nil {
		t.Fatalf("old secret before rotation: %v", e)
	}
	newHash, err := secret.Hash("new-secret")
	if err != nil {
		t.Fatal(err)
	}
	client.SecretHash = newHash
	if e := auth("old-secret"); e == nil || e.Code != "invalid_client" {
		t.Fatalf("old secret after rotation: %v, want invalid_client", e)
	}
	if e := auth("new-secret"); e != nil {
		t.Fatalf("new secret: %v", e)
	}
}
