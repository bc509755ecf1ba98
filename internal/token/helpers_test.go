package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

const (
	testIssuer   = "https://issuer.example"
	testAudience = "https://api.example"
)

var testStart = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: testStart} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// checkErrorText fails t unless err reads exactly want, so that a case
// passes only for the failure it is about, not for any failure.
func checkErrorText(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rsaTestKeys generates RSA keys once per test binary: 2048-bit generation
// is slow under -race and the tests do not depend on fresh RSA keys.
var rsaTestKeys = sync.OnceValues(func() ([]*Key, error) {
	var keys []*Key
	for _, alg := range []string{AlgRS256, AlgRS256, AlgPS256} {
		k, err := GenerateRSAKey(alg, MinRSABits)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
})

// newTestKey returns a key for alg. For RSA algorithms n picks one of a
// few cached keys (0 or 1 for RS256).
func newTestKey(t testing.TB, alg string, n int) *Key {
	t.Helper()
	if alg == AlgRS256 || alg == AlgPS256 {
		keys, err := rsaTestKeys()
		if err != nil {
			t.Fatal(err)
		}
		if alg == AlgPS256 {
			return keys[2]
		}
		return keys[n]
	}
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestSet returns a set signing access tokens with accessAlg and ID
// tokens with RS256, each with one active key.
func newTestSet(t testing.TB, accessAlg string) *KeySet {
	t.Helper()
	set, err := NewKeySet(accessAlg, AlgRS256)
	if err != nil {
		t.Fatal(err)
	}
	entries := []KeyEntry{{Key: newTestKey(t, accessAlg, 0), State: StateActive}}
	if accessAlg != AlgRS256 {
		entries = append(entries, KeyEntry{Key: newTestKey(t, AlgRS256, 0), State: StateActive})
	}
	if err := set.Replace(entries, testStart); err != nil {
		t.Fatal(err)
	}
	return set
}

// newTestMinter mints for testIssuer and testAudience with set's keys.
func newTestMinter(set *KeySet, now func() time.Time) *Minter {
	return NewMinter(set, testIssuer, []string{testAudience}, now)
}

func newTestVerifier(t testing.TB, keys KeyLookup, clock *fakeClock) *Verifier {
	t.Helper()
	v, err := NewVerifier(keys, testIssuer, []string{testAudience}, 0, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mintAccess mints the plainest access token m can sign: sub user-1,
// client_id client-1, one minute to live, for tests about everything but
// its claims.
func mintAccess(t testing.TB, m *Minter) string {
	t.Helper()
	raw, _, err := m.MintAccess(context.Background(), AccessRequest{Subject: "user-1", ClientID: "client-1", Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// decodeSegment JSON-decodes segment i (0 header, 1 payload) of a JWS.
func decodeSegment(t testing.TB, raw string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeKeyStore is an in-memory storage.KeyStore. It copies records in and
// out, as a real store serialises them. failList makes the next
// ListSigningKeys calls fail.
type fakeKeyStore struct {
	mu       sync.Mutex
	keys     map[string]storage.SigningKey
	failList error
}

var _ storage.KeyStore = (*fakeKeyStore)(nil)

func newFakeKeyStore() *fakeKeyStore { return &fakeKeyStore{keys: map[string]storage.SigningKey{}} }

func (s *fakeKeyStore) ListSigningKeys(context.Context) ([]*storage.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failList != nil {
		return nil, s.failList
	}
	out := make([]*storage.SigningKey, 0, len(s.keys))
	for _, k := range s.keys {
		k.Material = bytes.Clone(k.Material)
		out = append(out, &k)
	}
	slices.SortFunc(out, func(a, b *storage.SigningKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (s *fakeKeyStore) PutSigningKey(_ context.Context, k *storage.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *k
	c.Material = bytes.Clone(k.Material)
	s.keys[k.ID] = c
	return nil
}

func (s *fakeKeyStore) PutSigningKeysUnless(_ context.Context, alg, state string, keys ...*storage.SigningKey) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k.Algorithm == alg && k.State == state {
			return false, nil
		}
	}
	for _, k := range keys {
		c := *k
		c.Material = bytes.Clone(k.Material)
		s.keys[k.ID] = c
	}
	return true, nil
}

func (s *fakeKeyStore) DeleteSigningKey(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.keys, id)
	return nil
}

func (s *fakeKeyStore) get(id string) (storage.SigningKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	return k, ok
}

func (s *fakeKeyStore) setFailList(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failList = err
}
