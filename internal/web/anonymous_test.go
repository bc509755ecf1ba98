package web_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// usedMemory is Redis's used_memory, summed over a Cluster's masters.
func usedMemory(t *testing.T, rdb redis.UniversalClient) int64 {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var total int64
	read := func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "memory").Result()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return err
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}
		}
		return nil
	}
	err := testredis.ForEachMaster(ctx, rdb, read)
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// Done when (issue 9): anonymous traffic from one address, 3,000 login page
// views and 3,000 valid authorization requests, grows Redis by at most
// 1 MiB and is never answered 5xx (and neither do failed logins). Nothing is stored for an anonymous
// visitor: the login form's CSRF token is a sealed cookie, the pending
// request a sealed handle.
func TestAnonymousTrafficStoresNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("6,000 requests; run without -short")
	}
	s := webtest.New(t, webtest.Options{Limits: productionLimits})
	rdb := s.Store.Redis()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) int {
		resp, err := client.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	before := usedMemory(t, rdb)
	const n = 3000
	for i := range n {
		if st := get("/login"); st != http.StatusOK {
			t.Fatalf("GET /login #%d: %d", i, st)
		}
		params, _ := webtest.CodeRequest(webtest.PublicID, "openid profile")
		params.Set("login_hint", strings.Repeat("h", 200))
		params.Set("state", strings.Repeat("s", 1000))
		if st := get("/oauth2/authorize?" + params.Encode()); st != http.StatusFound {
			t.Fatalf("authorization request #%d: %d", i, st)
		}
	}
	// Failed logins, each for another username: only as many as the
	// per-address budget allows are judged, and each leaves three
	// fixed-size budget keys that expire within a minute.
	b := s.NewBrowser(t)
	form := b.Get("/login")
	const failures = 300
	for i := range failures {
		p := b.SubmitLogin(form, "nobody"+strconv.Itoa(i), "wrong-password")
		if p.Status != http.StatusBadRequest && p.Status != http.StatusTooManyRequests {
			t.Fatalf("failed login #%d: %d", i, p.Status)
		}
	}
	grown := usedMemory(t, rdb) - before
	t.Logf("Redis used_memory grew by %d bytes over %d login page views, %d authorization requests and %d failed logins", grown, n, n, failures)
	if grown > 1<<20 {
		t.Fatalf("Redis grew by %d bytes, want at most 1 MiB", grown)
	}
}

// The sealed handle works as the stored id did: the login page shows the
// request's client and hint, the flow ends with a code, and a handle that
// was tampered with is an expired request, not a 5xx.
func TestSealedPendingRequest(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(webtest.FirstPartyID, "openid")
	params.Set("login_hint", "alice")
	login := b.Authorize(params)
	handle := login.Hidden("req")
	if !strings.Contains(login.Body, "First Party App") || !strings.Contains(login.Body, `value="alice"`) || len(handle) < 100 {
		t.Fatalf("login page: %d %q", login.Status, login.Body)
	}
	tampered := []byte(handle)
	tampered[len(tampered)/2] ^= 1
	for _, h := range []string{string(tampered), "s1.", "s1.AAAA", strings.Repeat("x", 70000)} {
		if p := b.Get("/login?req=" + h); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "expired") {
			t.Fatalf("login page for a forged handle: %d", p.Status)
		}
		if p := b.Get("/oauth2/authorize/resume?req=" + h); p.Status != http.StatusBadRequest {
			t.Fatalf("resume with a forged handle: %d", p.Status)
		}
	}
	done := b.SubmitLogin(login, "alice", webtest.AlicePassword)
	if got := s.Callback(t, done); got.Get("code") == "" || got.Get("state") != params.Get("state") {
		t.Fatalf("callback: %v", got)
	}
}
