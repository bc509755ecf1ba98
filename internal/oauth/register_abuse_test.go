package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// redisState is the number of keys under the server's prefix and the
// bytes Redis says they take (MEMORY USAGE).
func redisState(t *testing.T, s *webtest.Server) (keys int, bytes int64) {
	t.Helper()
	var sizes []string
	ctx := context.Background()
	rdb := s.Store.Redis()
	// "*" first: keys with a hash tag start with "{" and the prefix.
	iter := rdb.Scan(ctx, 0, "*"+s.Store.Prefix()+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys++
		n, err := rdb.MemoryUsage(ctx, iter.Val()).Result()
		if err == nil {
			bytes += n
			sizes = append(sizes, fmt.Sprintf("%s=%d", strings.Replace(iter.Val(), s.Store.Prefix(), "", 1), n))
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("keys: %s", strings.Join(sizes, " "))
	return keys, bytes
}

// flood sends n registrations over workers connections and counts the
// answers by status.
func flood(t *testing.T, s *webtest.Server, n, workers int) map[int]int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"redirect_uris": []string{s.RedirectURI}, "token_endpoint_auth_method": "none",
		"client_name": "flood"})
	var next atomic.Int64
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				res, err := http.Post(s.URL+oauth.RegistrationPath, "application/json", bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				mu.Lock()
				counts[res.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return counts
}

// TestRegistrationFloodLeavesBoundedState: 10,000 open registrations
// from one address store registration.per_ip clients (plus what the
// budget regains meanwhile); from "many addresses" (no per-address
// budget at all) they store at most registration.max_clients.
func TestRegistrationFloodLeavesBoundedState(t *testing.T) {
	const n, perIP = 10_000, 5
	s := regServer(t, config.RegistrationOpen, perIP, 1000)
	keys0, bytes0 := redisState(t, s)
	start := time.Now()
	counts := flood(t, s, n, 8)
	elapsed := time.Since(start)
	keys1, bytes1 := redisState(t, s)
	stored, _ := s.Store.SelfRegisteredClients(t.Context())
	t.Logf("one address, %d registrations in %v: %d created, %d refused 429; %d self-registered stored; Redis under the prefix: %d keys / %d bytes before, %d keys / %d bytes after (+%d keys, +%d bytes)",
		n, elapsed.Round(time.Millisecond), counts[http.StatusCreated], counts[http.StatusTooManyRequests], stored,
		keys0, bytes0, keys1, bytes1, keys1-keys0, bytes1-bytes0)
	// The budget allows perIP at once and regains one every minute/perIP.
	most := perIP + int(elapsed/(time.Minute/perIP)) + 1
	if counts[http.StatusCreated] > most || counts[http.StatusCreated] < 1 || counts[http.StatusCreated]+counts[http.StatusTooManyRequests] != n {
		t.Fatalf("answers %v; want at most %d created and the rest 429", counts, most)
	}
	if stored != counts[http.StatusCreated] {
		t.Fatalf("%d created, %d stored", counts[http.StatusCreated], stored)
	}
	// The added keys: the set of self-registered ids, the address's
	// budget and the audit stream (5 events: throttled refusals are not
	// recorded).
	if keys1-keys0 > 3 || bytes1-bytes0 > 64<<10 {
		t.Fatalf("%d keys added by one address's registrations", keys1-keys0)
	}

	const maxClients = 200
	many := regServer(t, config.RegistrationOpen, 0, maxClients)
	keys0, bytes0 = redisState(t, many)
	counts = flood(t, many, 2_000, 8)
	keys1, bytes1 = redisState(t, many)
	stored, _ = many.Store.SelfRegisteredClients(t.Context())
	t.Logf("no per-address budget (many addresses), 2000 registrations: %d created, %d refused 403; %d stored; Redis +%d keys, +%d bytes (%d bytes per client)",
		counts[http.StatusCreated], counts[http.StatusForbidden], stored, keys1-keys0, bytes1-bytes0, (bytes1-bytes0)/int64(max(stored, 1)))
	if counts[http.StatusCreated] != maxClients || stored != maxClients || counts[http.StatusForbidden] != 2_000-maxClients {
		t.Fatalf("answers %v, %d stored; want exactly %d created, the rest 403", counts, stored, maxClients)
	}
}
