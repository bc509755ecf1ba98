package resourceserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/resourceserver"
)

// feedEntry is one revocation as the feed protocol carries it.
type feedEntry struct {
	JTI       string `json:"jti,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Kind      string `json:"kind,omitempty"`
	ID        string `json:"id,omitempty"`
	NotBefore int64  `json:"not_before,omitempty"`
	Until     int64  `json:"until,omitempty"`
}

// fakeFeed implements /work/notes/feed-protocol.md: Basic client
// authentication, size-checked cursor and wait, snapshots for no or an
// unknown cursor, news after a known one, long-polling that wakes at
// once, 503 with Retry-After while down.
type fakeFeed struct {
	*httptest.Server
	mu      sync.Mutex
	log     []feedEntry
	news    chan struct{} // closed and replaced on every revocation
	down    atomic.Bool
	refused atomic.Int32 // requests answered 503
}

const feedClient, feedSecret = "api:one", "s3cret/+"

func newFakeFeed(t testing.TB) *fakeFeed {
	ff := &fakeFeed{news: make(chan struct{})}
	ff.Server = httptest.NewServer(http.HandlerFunc(ff.serve))
	t.Cleanup(ff.Close)
	return ff
}

func (ff *fakeFeed) revoke(e feedEntry) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	ff.log = append(ff.log, e)
	close(ff.news)
	ff.news = make(chan struct{})
}

func (ff *fakeFeed) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id, secret, ok := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	if !ok || id != feedClient || secret != feedSecret {
		w.Header().Set("WWW-Authenticate", "Basic")
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	cursor := q.Get("cursor")
	wait, err := strconv.Atoi(q.Get("wait"))
	if len(cursor) > 64 || q.Has("wait") && (err != nil || wait < 0 || wait > 30) {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if ff.down.Load() {
		ff.refused.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	ff.mu.Lock()
	pos, err := strconv.Atoi(cursor)
	snapshot := err != nil || pos < 0 || pos > len(ff.log)
	if snapshot {
		pos = 0
	}
	news := ff.news
	if !snapshot && pos == len(ff.log) && wait > 0 {
		ff.mu.Unlock()
		select {
		case <-news:
		case <-time.After(time.Duration(wait) * time.Second):
		case <-r.Context().Done():
			return
		}
		ff.mu.Lock()
	}
	entries := slices.Clone(ff.log[pos:])
	end := len(ff.log)
	ff.mu.Unlock()
	answer := map[string]any{"cursor": strconv.Itoa(end), "snapshot": snapshot, "jtis": []feedEntry{}, "cutoffs": []feedEntry{}}
	for _, e := range entries {
		key := "cutoffs"
		if e.JTI != "" {
			key = "jtis"
		}
		answer[key] = append(answer[key].([]feedEntry), e)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func follow(t *testing.T, cfg resourceserver.FeedConfig) *resourceserver.FeedFollower {
	t.Helper()
	f, err := resourceserver.NewFeedFollower(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(t.Context()) }()
	t.Cleanup(func() { <-done })
	return f
}

// eventually polls cond for up to limit and reports how long it took.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func TestFeedFollower(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	ff := newFakeFeed(t)
	ff.revoke(feedEntry{JTI: "old-jti", Exp: ms(time.Hour)})
	ff.revoke(feedEntry{Kind: "sub", ID: "alice", NotBefore: ms(0), Until: ms(time.Hour)})
	ff.revoke(feedEntry{Kind: "tenant", ID: "bob", NotBefore: ms(0), Until: ms(time.Hour)}) // a kind from the future
	ff.revoke(feedEntry{JTI: "gone-jti", Exp: ms(-time.Minute)})                            // expired: forgotten
	clock := &fakeClock{now: now}
	f := follow(t, resourceserver.FeedConfig{URL: ff.URL, ClientID: feedClient, ClientSecret: feedSecret,
		Wait: time.Second, MaxStaleness: 3 * time.Second, Now: clock.Now})
	token := func(jti, sub string, iat time.Time) *resourceserver.Claims {
		return &resourceserver.Claims{JTI: jti, Subject: sub, ClientID: "web", IssuedAt: iat, ExpiresAt: now.Add(time.Hour)}
	}
	revoked := func(c *resourceserver.Claims) bool {
		r, err := f.Revoked(c)
		return err == nil && r
	}
	eventually(t, 2*time.Second, "first answer", func() bool { return f.Ping(t.Context()) == nil })
	for _, tc := range []struct {
		name    string
		claims  *resourceserver.Claims
		revoked bool
	}{
		{"denied jti", token("old-jti", "carol", now), true},
		{"subject cutoff", token("j1", "alice", now.Add(-time.Second)), true},
		{"after the cutoff", token("j2", "alice", now), false},
		{"unknown kind ignored", token("j3", "bob", now.Add(-time.Second)), false},
	} {
		if got := revoked(tc.claims); got != tc.revoked {
			t.Errorf("%s: revoked = %v, want %v", tc.name, got, tc.revoked)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the follower settle into its long poll
	ff.revoke(feedEntry{JTI: "new-jti", Exp: ms(time.Hour)})
	took := eventually(t, time.Second, "a revocation during the long poll", func() bool { return revoked(token("new-jti", "carol", now)) })
	t.Logf("revocation applied after %s", took)

	// The feed goes down: the state serves until it is MaxStaleness old,
	// then the follower fails closed, and recovers when the feed returns.
	ff.down.Store(true)
	eventually(t, 5*time.Second, "a refused request", func() bool { return ff.refused.Load() > 0 })
	clock.Advance(2 * time.Second)
	if !revoked(token("new-jti", "carol", now)) {
		t.Fatal("state younger than MaxStaleness was not used")
	}
	clock.Advance(2 * time.Second)
	if _, err := f.Revoked(token("x", "carol", now)); err == nil {
		t.Fatal("a stale state was used")
	}
	ff.down.Store(false)
	eventually(t, 5*time.Second, "recovery", func() bool { return f.Ping(t.Context()) == nil })
}

func TestFeedFollowerBadCredentials(t *testing.T) {
	ff := newFakeFeed(t)
	f := follow(t, resourceserver.FeedConfig{URL: ff.URL, ClientID: feedClient, ClientSecret: "wrong", Wait: time.Second, MaxStaleness: 2 * time.Second})
	time.Sleep(300 * time.Millisecond)
	if err := f.Ping(t.Context()); err == nil {
		t.Fatal("a follower that was never answered reports ready")
	}
}

// TestFeedFailsClosed: behind the middleware, a follower with no current
// state answers 503 with Retry-After, and a revoked token 401.
func TestFeedFailsClosed(t *testing.T) {
	now := time.Now()
	ff := newFakeFeed(t)
	ff.down.Store(true)
	f := follow(t, resourceserver.FeedConfig{URL: ff.URL, ClientID: feedClient, ClientSecret: feedSecret, Wait: time.Second, MaxStaleness: 2 * time.Second})
	tokens := tokensOf{"t": {Subject: "u", ClientID: "c", JTI: "j", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}
	rs, err := resourceserver.New(resourceserver.Config{Realm: "https://i", Verifier: tokens, Revocations: f})
	if err != nil {
		t.Fatal(err)
	}
	if w := serve(rs.Policy(), bearer("t")); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("before the feed answered: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	ff.revoke(feedEntry{JTI: "j", Exp: now.Add(time.Hour).UnixMilli()})
	ff.down.Store(false)
	eventually(t, 5*time.Second, "the feed's answer", func() bool { return f.Ping(t.Context()) == nil })
	if w := serve(rs.Policy(), bearer("t")); w.Code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", w.Code)
	}
}
