package clientkeys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func testSet(t *testing.T, kid string) string {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: kid}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }
func (c *fakeClock) config() FetcherConfig {
	return FetcherConfig{Client: http.DefaultClient, Now: c.Now}
}
func served(n *atomic.Int64, body *atomic.Value) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		_, _ = w.Write([]byte(body.Load().(string)))
	})
}

// Concurrent requests for one URI share one fetch; a fresh set answers
// without asking; a failing URI keeps serving the set read before until
// it expires, then fails.
func TestFetcherSharesCachesAndKeepsTheLastSet(t *testing.T) {
	var hits atomic.Int64
	var body atomic.Value
	body.Store(testSet(t, "a"))
	srv := httptest.NewServer(served(&hits, &body))
	defer srv.Close()
	clk := newFakeClock()
	f, err := NewFetcher(clk.config())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := f.Keys(context.Background(), srv.URL, "a"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d fetches for 16 concurrent requests, want 1", n)
	}
	body.Store("not json")
	clk.Add(DefaultCacheTTL - time.Second)
	if set, err := f.Keys(context.Background(), srv.URL, "a"); err != nil || !HasKeyID(set, "a") {
		t.Fatalf("fresh set: %v, %v", set, err)
	}
	// An unknown kid fetches again; the fetch fails, the old set stays.
	if set, err := f.Keys(context.Background(), srv.URL, "b"); err != nil || HasKeyID(set, "b") {
		t.Fatalf("unknown kid after a failed fetch: %v, %v", set, err)
	}
	clk.Add(DefaultMinRefetch)
	if _, err := f.Keys(context.Background(), srv.URL, "a"); err == nil {
		t.Fatal("an expired set was served while its URI fails")
	}
}

// The cache holds at most MaxEntries sets.
func TestFetcherIsBounded(t *testing.T) {
	var hits atomic.Int64
	var body atomic.Value
	body.Store(testSet(t, "a"))
	srv := httptest.NewServer(served(&hits, &body))
	defer srv.Close()
	clk := newFakeClock()
	cfg := clk.config()
	cfg.MaxEntries = 4
	f, err := NewFetcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := f.Keys(context.Background(), fmt.Sprintf("%s/%d", srv.URL, i), ""); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		n := len(f.cache)
		f.mu.Unlock()
		if n > cfg.MaxEntries {
			t.Fatalf("%d sets cached, bound %d", n, cfg.MaxEntries)
		}
	}
}

// A caller that gives up is answered at once, though the fetch it
// started goes on for the others.
func TestFetcherHonoursTheCallersDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	f, err := NewFetcher(FetcherConfig{Client: http.DefaultClient, FetchTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := f.Keys(ctx, srv.URL, ""); err == nil {
		t.Fatal("a stalled jwks_uri answered")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("answered after %v", d)
	}
}
