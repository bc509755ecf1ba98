package oauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

// feedInstance is one authorization server instance serving the
// revocation feed: its own store, feed (with its own subscriptions) and
// HTTP server, on a Redis and prefix other instances may share.
type feedInstance struct {
	t     testing.TB
	URL   string
	Store *storage.Store
	Feed  *oauth.RevocationFeed
	HTTP  *httptest.Server
}

type feedOptions struct {
	maxWaiters int
	timeout    time.Duration // the store's command timeout
	// deaf leaves the feed without its subscriptions, as when they are
	// lost: held requests must look for themselves.
	deaf bool
	// serve, if set, wraps the handler in the test's own http.Server
	// instead of an httptest one (server timeouts, shutdown).
	serve func(h http.Handler) string
}

// newFeedInstance starts an instance on redisURL under prefix; the
// clients the feed tests use are seeded when seed is true.
func newFeedInstance(t testing.TB, redisURL, prefix string, seed bool, o feedOptions) *feedInstance {
	t.Helper()
	store, err := storage.Open(context.Background(), storage.Options{URL: redisURL, Prefix: prefix, Timeout: o.timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	feed, err := oauth.NewRevocationFeed(store, oauth.FeedConfig{MaxWaiters: o.maxWaiters})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	if !o.deaf {
		if err := feed.Listen(ctx); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = feed.Follow(ctx) }()
		t.Cleanup(func() { stop(); <-done })
	}

	// Clients are looked up through the cache, as in cmd/oauth2d: a
	// resource server it knows is authenticated while Redis stalls.
	clients := storage.NewClientCache(store, time.Minute)
	go func() { _ = clients.Run(ctx) }()

	keys, err := token.NewDevKeySet(token.AlgES256, token.AlgRS256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://127.0.0.1"
	verifier, err := token.NewVerifier(keys, issuer, []string{issuer + "/api"}, 0, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	checker, err := secret.NewChecker(runtime.GOMAXPROCS(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := oauth.NewHandler(oauth.Deps{
		Config: oauth.Config{Issuer: issuer, AccessTokenTTL: time.Minute},
		Store:  store, Clients: clients, Users: store, Passwords: store, Checker: checker,
		Minter: token.NewMinter(keys, issuer, []string{issuer + "/api"}, time.Now), Verifier: verifier,
		Limiter: ratelimit.New(store.Redis(), prefix, ratelimit.Limits{PerUsername: 1000, PerIP: 1000}),
		Feed:    feed,
	})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET(oauth.RevocationFeedPath, gin.WrapF(h.ServeRevocationFeed))
	in := &feedInstance{t: t, Store: store, Feed: feed}
	if o.serve != nil {
		in.URL = o.serve(r)
	} else {
		in.HTTP = httptest.NewServer(r)
		t.Cleanup(in.HTTP.Close)
		in.URL = in.HTTP.URL
	}
	if seed {
		in.seed()
	}
	return in
}

// seed registers a resource server (service), a confidential client
// that is none (first-party) and a public client.
func (in *feedInstance) seed() {
	in.t.Helper()
	for _, c := range []*storage.Client{
		{ID: serviceID, SecretHash: testenv.Hash(in.t, serviceSecret), GrantTypes: []string{"client_credentials"},
			Scopes: []string{"openid"}, IntrospectionAudiences: []string{"https://api.example"}},
		{ID: firstPartyID, SecretHash: testenv.Hash(in.t, firstPartySecret), GrantTypes: []string{"client_credentials"},
			Scopes: []string{"openid"}},
		{ID: publicID, Public: true, GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"},
			RedirectURIs: []string{redirectURI}},
	} {
		if err := in.Store.UpsertClient(context.Background(), c); err != nil {
			in.t.Fatal(err)
		}
	}
}

// feedAnswer is the feed's 200 body.
type feedAnswer struct {
	Cursor   string `json:"cursor"`
	Snapshot bool   `json:"snapshot"`
	JTIs     []struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	} `json:"jtis"`
	Cutoffs []struct {
		Kind      string `json:"kind"`
		ID        string `json:"id"`
		NotBefore int64  `json:"not_before"`
		Until     int64  `json:"until"`
	} `json:"cutoffs"`
}

func (a feedAnswer) jtis() []string {
	var out []string
	for _, j := range a.JTIs {
		out = append(out, j.JTI)
	}
	return out
}

var longPollClient = &http.Client{Timeout: 45 * time.Second}

// tryGet asks the feed with a raw query, as the service unless user is
// set ("-" for no credentials).
func (in *feedInstance) tryGet(query, user, pass string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, in.URL+oauth.RevocationFeedPath+"?"+query, nil)
	if err != nil {
		return response{}, err
	}
	switch user {
	case "":
		req.SetBasicAuth(serviceID, serviceSecret)
	case "-":
	default:
		req.SetBasicAuth(user, pass)
	}
	res, err := longPollClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		return out, fmt.Errorf("feed: body is not JSON: %q", raw)
	}
	return out, nil
}

// tryPoll asks for what changed after cursor ("" for a snapshot),
// waiting up to wait seconds.
func (in *feedInstance) tryPoll(cursor string, wait int) (feedAnswer, response, error) {
	q := url.Values{"wait": {fmt.Sprint(wait)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	res, err := in.tryGet(q.Encode(), "", "")
	if err != nil {
		return feedAnswer{}, res, err
	}
	if res.Status != http.StatusOK {
		return feedAnswer{}, res, fmt.Errorf("feed: %d %s", res.Status, res.Raw)
	}
	var a feedAnswer
	err = json.Unmarshal([]byte(res.Raw), &a)
	return a, res, err
}

func (in *feedInstance) poll(cursor string, wait int) feedAnswer {
	in.t.Helper()
	a, res, err := in.tryPoll(cursor, wait)
	if err != nil {
		in.t.Fatal(err)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		in.t.Errorf("Cache-Control = %q, want no-store", res.Header.Get("Cache-Control"))
	}
	return a
}

// waitHeld waits until the instance holds n requests.
func (in *feedInstance) waitHeld(n int) {
	in.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for in.Feed.Waiting() != n {
		if time.Now().After(deadline) {
			in.t.Fatalf("the feed holds %d requests, want %d", in.Feed.Waiting(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFeedSnapshotThenChanges(t *testing.T) {
	rs := testredis.New(t)
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{})
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := in.Store.RevokeJTI(ctx, "before", exp); err != nil {
		t.Fatal(err)
	}
	snap := in.poll("", 0)
	if !snap.Snapshot || len(snap.JTIs) != 1 || snap.JTIs[0].JTI != "before" || snap.JTIs[0].Exp != exp.UnixMilli() ||
		snap.Cutoffs == nil || len(snap.Cutoffs) != 0 || snap.Cursor == "" {
		t.Fatalf("snapshot = %+v, want the jti before, no cutoffs, a cursor", snap)
	}
	if a := in.poll(snap.Cursor, 0); a.Snapshot || len(a.JTIs) != 0 || len(a.Cutoffs) != 0 || a.Cursor != snap.Cursor {
		t.Fatalf("nothing new: %+v, want empty lists and the same cursor", a)
	}
	nbf := time.Now().Truncate(time.Millisecond)
	if err := in.Store.SetCutoff(ctx, storage.Cutoff{Principal: storage.ClientCutoff("web"), NotBefore: nbf, Until: nbf.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := in.Store.RevokeJTI(ctx, "after", exp); err != nil {
		t.Fatal(err)
	}
	a := in.poll(snap.Cursor, 0)
	if a.Snapshot || strings.Join(a.jtis(), ",") != "after" || len(a.Cutoffs) != 1 || a.Cursor == snap.Cursor {
		t.Fatalf("after two revocations: %+v", a)
	}
	if c := a.Cutoffs[0]; c.Kind != "client" || c.ID != "web" || c.NotBefore != nbf.UnixMilli() || c.Until != nbf.Add(time.Hour).UnixMilli() {
		t.Fatalf("cutoff = %+v", c)
	}
	if b := in.poll(a.Cursor, 0); len(b.JTIs) != 0 || len(b.Cutoffs) != 0 || b.Cursor != a.Cursor {
		t.Fatalf("after everything was read: %+v", b)
	}
}

// A held request wakes as soon as another instance revokes, whatever
// the revocation: a jti, a user's tokens, a client's.
func TestFeedLongPollWakesOnAnotherInstancesRevocation(t *testing.T) {
	rs := testredis.New(t)
	follower := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{})
	other := newFeedInstance(t, rs.URL, rs.Prefix, false, feedOptions{})
	ctx := context.Background()
	cursor := follower.poll("", 0).Cursor
	now := time.Now()
	for _, tc := range []struct {
		name   string
		revoke func() error
		check  func(a feedAnswer) bool
	}{
		{"jti", func() error { return other.Store.RevokeJTI(ctx, "j-woken", now.Add(time.Hour)) },
			func(a feedAnswer) bool { return strings.Join(a.jtis(), ",") == "j-woken" }},
		{"user cutoff", func() error {
			return other.Store.SetCutoff(ctx, storage.Cutoff{Principal: storage.SubjectCutoff("alice"), NotBefore: now, Until: now.Add(time.Hour)})
		}, func(a feedAnswer) bool {
			return len(a.Cutoffs) == 1 && a.Cutoffs[0].Kind == "sub" && a.Cutoffs[0].ID == "alice"
		}},
		{"client cutoff", func() error {
			return other.Store.SetCutoff(ctx, storage.Cutoff{Principal: storage.ClientCutoff("web"), NotBefore: now, Until: now.Add(time.Hour)})
		}, func(a feedAnswer) bool {
			return len(a.Cutoffs) == 1 && a.Cutoffs[0].Kind == "client" && a.Cutoffs[0].ID == "web"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				a   feedAnswer
				err error
				at  time.Time
			}
			got := make(chan result, 1)
			go func() {
				a, _, err := follower.tryPoll(cursor, 20)
				got <- result{a, err, time.Now()}
			}()
			follower.waitHeld(1)
			revoked := time.Now()
			if err := tc.revoke(); err != nil {
				t.Fatal(err)
			}
			r := <-got
			if r.err != nil {
				t.Fatal(r.err)
			}
			if d := r.at.Sub(revoked); d > 300*time.Millisecond {
				t.Errorf("answered %v after the revocation, want well under a second", d)
			}
			if r.a.Snapshot || !tc.check(r.a) {
				t.Fatalf("answer = %+v", r.a)
			}
			cursor = r.a.Cursor
		})
	}
}

// Without its subscriptions (lost, against the storage contract) the
// feed still answers a held request within about a second of a
// revocation: it looks for itself.
func TestFeedWithoutSubscriptionsPolls(t *testing.T) {
	rs := testredis.New(t)
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{deaf: true})
	cursor := in.poll("", 0).Cursor
	held := in.pollAsync(cursor, 20)
	in.waitHeld(1)
	revoked := time.Now()
	if err := in.Store.RevokeJTI(context.Background(), "j1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := <-held
	if r.err != nil || strings.Join(r.a.jtis(), ",") != "j1" {
		t.Fatalf("held answer %+v %v", r.a, r.err)
	}
	if d := r.at.Sub(revoked); d > 1500*time.Millisecond {
		t.Errorf("answered %v after the revocation", d)
	}
}

func TestFeedWaitEndsWithNothingNew(t *testing.T) {
	rs := testredis.New(t)
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{})
	cursor := in.poll("", 0).Cursor
	start := time.Now()
	a := in.poll(cursor, 1)
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Errorf("wait=1 answered after %v", d)
	}
	if a.Snapshot || len(a.JTIs) != 0 || a.Cursor != cursor {
		t.Fatalf("answer = %+v, want nothing new and the same cursor", a)
	}
}

func TestFeedCursorItCannotFollowGivesASnapshot(t *testing.T) {
	rs := testredis.New(t)
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{})
	ctx := context.Background()
	if err := in.Store.RevokeJTI(ctx, "j1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	cursor := in.poll("", 0).Cursor
	for i := range 3 {
		if err := in.Store.RevokeJTI(ctx, fmt.Sprint("later", i), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// As XADD MAXLEN does once the stream is full.
	if err := in.Store.Redis().XTrimMaxLen(ctx, "{"+rs.Prefix+"revoked-jti}:feed", 1).Err(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]string{"trimmed": cursor, "unknown": "12-3.4-5", "malformed": "not a cursor"} {
		a := in.poll(c, 5)
		if !a.Snapshot || len(a.JTIs) != 4 {
			t.Errorf("%s cursor: %+v, want a snapshot of 4 jtis", name, a)
		}
	}
}

func TestFeedRefusesAllButResourceServers(t *testing.T) {
	rs := testredis.New(t)
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{})
	for _, tc := range []struct {
		name, user, pass, query string
		status                  int
		code                    string
	}{
		{"no credentials", "-", "", "", http.StatusUnauthorized, "invalid_client"},
		{"credentials in the query", "-", "", "client_id=" + serviceID + "&client_secret=" + serviceSecret, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", serviceID, "wrong", "", http.StatusUnauthorized, "invalid_client"},
		{"unknown client", "nobody", "secret", "", http.StatusUnauthorized, "invalid_client"},
		{"confidential, not a resource server", firstPartyID, firstPartySecret, "", http.StatusForbidden, "unauthorized_client"},
		{"public client", publicID, "", "", http.StatusForbidden, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := in.tryGet(tc.query, tc.user, tc.pass)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, res, tc.status, tc.code)
		})
	}
}

func TestFeedChecksItsParameters(t *testing.T) {
	rs := testredis.New(t)
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{})
	for _, q := range []string{
		"wait=31", "wait=-1", "wait=+5", "wait=1.5", "wait=abc", "wait=100", "wait=0x1",
		"wait=1&wait=2", "cursor=a&cursor=b",
		"cursor=" + strings.Repeat("1", 65),
		"pad=" + strings.Repeat("x", 600),
		"cursor=%zz",
	} {
		res, err := in.tryGet(q, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusBadRequest || res.str("error") != "invalid_request" {
			t.Errorf("%.40s: %d %s, want 400 invalid_request", q, res.Status, res.Raw)
		}
	}
	// The bounds themselves are fine (a snapshot never waits).
	for _, q := range []string{"wait=30", "wait=0", "wait=", "cursor=" + strings.Repeat("1", 64) + "&wait=0", "unknown=1"} {
		if res, err := in.tryGet(q, "", ""); err != nil || res.Status != http.StatusOK {
			t.Errorf("%.40s: %d %s %v, want 200", q, res.Status, res.Raw, err)
		}
	}
}

func TestFeedBoundsHeldRequests(t *testing.T) {
	rs := testredis.New(t)
	in := newFeedInstance(t, rs.URL, rs.Prefix, true, feedOptions{maxWaiters: 2})
	cursor := in.poll("", 0).Cursor
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _, _, _ = in.tryPoll(cursor, 20) })
	}
	in.waitHeld(2)
	res, err := in.tryGet("wait=20&cursor="+cursor, "", "")
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
	if res.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// A request that need not wait is still answered.
	if a := in.poll(cursor, 0); a.Cursor != cursor {
		t.Fatalf("wait=0 over the bound: %+v", a)
	}
	if err := in.Store.RevokeJTI(context.Background(), "release", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	in.waitHeld(0)
}
