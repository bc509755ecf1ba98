package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

// Fault injection against the whole server (DESIGN.md §4, §8): its Redis
// is a redis-server of the test's own (testredis.Private), stopped with
// SIGSTOP, or killed and restarted empty. The embedded Redis cannot be
// stopped or killed, so these tests need redis-server: they skip without
// it, and fail under CI (prereq).

const faultBootstrap = `
clients:
  - id: app
    secret: app-secret
    first_party: true
    grant_types: [password, refresh_token]
    scopes: [openid, profile, offline_access, comments:read]
  - id: service
    secret: service-secret
    grant_types: [client_credentials]
    scopes: [comments:read]
  - id: web
    public: true
    redirect_uris: [http://localhost:9000/callback]
    grant_types: [authorization_code]
    scopes: [openid]
users:
  - {username: u1, password: password-1, roles: [user]}
  - {username: u2, password: password-2, roles: [user]}
  - {username: u3, password: password-3, roles: [user]}
  - {username: u4, password: password-4, roles: [user]}
`

// faultEnv is the environment of a server on srv with the fault bootstrap.
func faultEnv(t *testing.T, srv *testredis.Private) map[string]string {
	t.Helper()
	inEmptyDir(t)
	file := filepath.Join(t.TempDir(), "bootstrap.yaml")
	writeFile(t, file, faultBootstrap)
	return map[string]string{
		"OAUTH2D_REDIS_URL": srv.URL, "OAUTH2D_REDIS_PREFIX": srv.Prefix, "OAUTH2D_BOOTSTRAP": file,
		"OAUTH2D_LOG_LEVEL": "warn",
	}
}

type answer struct {
	status int
	body   map[string]any
	header http.Header
	url    *url.URL // where the redirects ended
	took   time.Duration
	err    error
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

var faultClient = &http.Client{Timeout: 20 * time.Second}

func tokenRequest(base, client, secret string, form url.Values) answer {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	return do(req)
}

func get(base, path, bearer string) answer {
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(req)
}

func do(req *http.Request) answer {
	start := time.Now()
	resp, err := faultClient.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, url: resp.Request.URL, took: time.Since(start)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func password(base string, i int) answer {
	return tokenRequest(base, "app", "app-secret", url.Values{"grant_type": {"password"},
		"username": {fmt.Sprintf("u%d", i)}, "password": {fmt.Sprintf("password-%d", i)}, "scope": {"openid profile offline_access comments:read"}})
}

func refresh(base, rt string) answer {
	return tokenRequest(base, "app", "app-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// Done when (issue 8): 4 users' refresh chains, each refreshed once during
// a 12 s Redis stall: every request that cannot be served is answered
// within 3 s, each client's retry with its same token after Redis returns
// succeeds, every successor then works, no family is revoked and no reuse
// is logged; /readyz answers 503 within 3 s while Redis is stopped.
func TestRedisStallDuringRefreshes(t *testing.T) {
	srv := testredis.NewPrivate(t)
	base, logs, stop := serveUntilReady(t, faultEnv(t, srv))
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	tokens := make([]string, 4)
	access := ""
	for i := range tokens {
		a := password(base, i+1)
		if a.status != 200 {
			t.Fatalf("password grant for u%d = %d %v", i+1, a.status, a.body)
		}
		tokens[i], access = a.str("refresh_token"), a.str("access_token")
	}
	if a := get(base, "/api/v1/me", access); a.status != 200 {
		t.Fatalf("/api/v1/me before the stall = %d %v", a.status, a.body)
	}
	if a := tokenRequest(base, "service", "service-secret", url.Values{"grant_type": {"client_credentials"}}); a.status != 200 {
		t.Fatalf("client_credentials before the stall = %d %v", a.status, a.body)
	}
	authorize := "/oauth2/authorize?client_id=web&response_type=code&scope=openid&redirect_uri=" +
		url.QueryEscape("http://localhost:9000/callback") +
		"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
	// A visitor on their way to sign in: the login page of a pending
	// request (the request sealed in its URL, its client now cached).
	signingIn := get(base, authorize, "")
	if signingIn.status != 200 || signingIn.url.Path != "/login" || signingIn.url.Query().Get("req") == "" {
		t.Fatalf("authorization request before the stall ended at %d %v", signingIn.status, signingIn.url)
	}

	const stall = 12 * time.Second
	srv.Pause(t)
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume(t)
		}
	}()
	stalledAt := time.Now()
	var wg sync.WaitGroup
	for i, rt := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := refresh(base, rt)
			if a.err != nil || a.status != http.StatusServiceUnavailable || a.str("error") != "temporarily_unavailable" || a.header.Get("Retry-After") == "" {
				t.Errorf("refresh %d during the stall = %d %v %v (Retry-After %q), want 503 temporarily_unavailable",
					i, a.status, a.body, a.err, a.header.Get("Retry-After"))
			}
			if a.took > 3*time.Second {
				t.Errorf("refresh %d during the stall took %v, want at most 3s", i, a.took)
			}
			t.Logf("refresh %d during the stall: %d in %v", i, a.status, a.took.Round(time.Millisecond))
		}()
	}
	ready := get(base, "/readyz", "")
	if ready.status != http.StatusServiceUnavailable || ready.took > 3*time.Second {
		t.Errorf("/readyz during the stall = %d in %v, want 503 within 3s", ready.status, ready.took)
	}
	t.Logf("/readyz during the stall: %d in %v", ready.status, ready.took.Round(time.Millisecond))
	// The bearer middleware verifies locally and the user was cached by
	// the call before the stall: the protected API answers from memory.
	if me := get(base, "/api/v1/me", access); me.status != 200 || me.took > time.Second {
		t.Errorf("/api/v1/me during the stall = %d %v in %v, want 200 from the caches", me.status, me.body, me.took)
	} else {
		t.Logf("/api/v1/me during the stall: %d in %v", me.status, me.took.Round(time.Millisecond))
	}
	// An anonymous visitor's login page needs no Redis (its form state is
	// sealed in the browser): it keeps answering.
	if login := get(base, "/login", ""); login.status != 200 || login.took > time.Second {
		t.Errorf("login page during the stall = %d in %v, want 200 without Redis", login.status, login.took)
	}
	// Nor does the login page of a pending request whose client is cached.
	if login := get(base, signingIn.url.RequestURI(), ""); login.status != 200 || login.took > time.Second {
		t.Errorf("login page of a pending request during the stall = %d in %v, want 200 from the caches", login.status, login.took)
	}
	// Nor does the authorization endpoint, whose client lookup is the
	// same cache (issue 21: it read Redis and answered 503).
	if again := get(base, authorize, ""); again.status != 200 || again.url.Path != "/login" || again.took > time.Second {
		t.Errorf("authorization request during the stall ended at %d %v in %v, want the login page from the caches",
			again.status, again.url, again.took)
	}
	// Every other kind of answer to a stall: a 503 of its own kind, fast.
	for _, c := range []struct {
		name, path, bearer, contentType string
	}{
		{"protected API", "/api/v1/comments", access, "application/problem+json"},
		// A client nobody looked up yet is not cached: its lookup stalls.
		{"authorization page", strings.Replace(authorize, "client_id=web", "client_id=uncached", 1), "", "text/html"},
	} {
		a := get(base, c.path, c.bearer)
		if a.status != http.StatusServiceUnavailable || a.took > 3*time.Second || a.header.Get("Retry-After") == "" ||
			!strings.HasPrefix(a.header.Get("Content-Type"), c.contentType) {
			t.Errorf("%s during the stall = %d %q in %v (Retry-After %q), want 503 %s within 3s", c.name,
				a.status, a.header.Get("Content-Type"), a.took, a.header.Get("Retry-After"), c.contentType)
		}
		t.Logf("%s during the stall: %d in %v", c.name, a.status, a.took.Round(time.Millisecond))
	}
	// A machine client already cached needs no Redis for its token, nor
	// does the audit event of that token make it wait for the stream.
	cc := tokenRequest(base, "service", "service-secret", url.Values{"grant_type": {"client_credentials"}})
	if cc.status != 200 || cc.took > 500*time.Millisecond {
		t.Errorf("client_credentials of a cached client during the stall = %d %v in %v, want 200 from memory", cc.status, cc.body, cc.took)
	}
	t.Logf("client_credentials during the stall: %d in %v", cc.status, cc.took.Round(time.Millisecond))
	wg.Wait()
	time.Sleep(time.Until(stalledAt.Add(stall)))
	srv.Resume(t)
	resumed = true

	for i, rt := range tokens {
		var a answer
		for range 50 { // the first requests after a resume may still find dead connections
			if a = refresh(base, rt); a.status != http.StatusServiceUnavailable {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if a.status != 200 {
			t.Fatalf("retry %d with the same token after the stall = %d %v, want 200", i, a.status, a.body)
		}
		if next := refresh(base, a.str("refresh_token")); next.status != 200 {
			t.Fatalf("successor %d after the stall = %d %v, want 200", i, next.status, next.body)
		}
	}
	if strings.Contains(logs.String(), "reused") {
		t.Errorf("reuse logged during a stall:\n%s", logs)
	}
	// The stream could not take that token's audit event: it was dropped
	// and counted (the log has it, at level info).
	if m := metricsText(t, base); !regexp.MustCompile(`oauth2d_audit_events_dropped_total\{reason="(redis|queue_full)"\} [1-9]`).MatchString(m) {
		t.Errorf("no audit event counted as dropped during the stall:\n%s", m)
	}
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	res, err := faultClient.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// Done when (issue 8): Redis killed and restarted empty: within 40 s every
// instance serves the bootstrap clients and users again, and /readyz never
// says ready while they are refused. With keys.source=redis the signing
// keys the instances hold are put back, so tokens signed before still
// verify.
func TestRedisRestartsEmpty(t *testing.T) {
	srv := testredis.NewPrivate(t)
	env := faultEnv(t, srv)
	env["OAUTH2D_KEYS_SOURCE"] = "redis"
	env["OAUTH2D_KEY_ENCRYPTION_KEY"] = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	env["OAUTH2D_KEYS_ID_TOKEN_ALGORITHM"] = "ES256"
	// The polling below asks for u2's password while u2 is gone: refusals
	// that the login throttle counts, and that are not what is tested.
	env["OAUTH2D_RATE_LIMIT_LOGIN_PER_USERNAME"] = "10000"
	env["OAUTH2D_RATE_LIMIT_LOGIN_PER_IP"] = "10000"
	bases := make([]string, 2)
	for i := range bases {
		instance := make(map[string]string, len(env))
		for k, v := range env {
			instance[k] = v
		}
		base, _, stop := serveUntilReady(t, instance)
		defer func() { _ = stop() }()
		bases[i] = base
	}
	before := password(bases[0], 1)
	if before.status != 200 {
		t.Fatalf("password grant before the restart = %d %v", before.status, before.body)
	}

	srv.RestartEmpty(t)
	lostAt := time.Now()
	for i, base := range bases {
		servedAt := time.Duration(0)
		for servedAt == 0 {
			if time.Since(lostAt) > 40*time.Second {
				t.Fatalf("instance %d does not serve the bootstrap clients 40s after Redis restarted empty", i)
			}
			ready := get(base, "/readyz", "")
			cc := tokenRequest(base, "service", "service-secret", url.Values{"grant_type": {"client_credentials"}})
			pw := password(base, 2)
			served := cc.status == 200 && pw.status == 200
			if ready.status == 200 && !served {
				t.Fatalf("instance %d: /readyz said ready but client_credentials = %d, password = %d", i, cc.status, pw.status)
			}
			if served && ready.status == 200 {
				servedAt = time.Since(lostAt)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("instance %d serves the bootstrap clients and users %v after the empty restart", i, servedAt.Round(time.Millisecond))
	}
	// The key that signed the token before the loss is published again,
	// and its user is back under the same id: the token still works.
	jwks := get(bases[1], "/.well-known/jwks.json", "")
	kid := jwtKID(t, before.str("access_token"))
	if keys, _ := jwks.body["keys"].([]any); !strings.Contains(fmt.Sprint(keys), kid) {
		t.Errorf("kid %s of a token signed before the loss is not in the JWKS after healing: %v", kid, jwks.body)
	}
	for i, base := range bases {
		if me := get(base, "/api/v1/me", before.str("access_token")); me.status != 200 {
			t.Errorf("instance %d: access token from before the loss = %d %v, want 200", i, me.status, me.body)
		}
	}
}

func jwtKID(t *testing.T, jwt string) string {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.KID
}

// Done when (issue 8): SIGTERM under steady load, no failed request, and
// /readyz 503 from the moment it arrives. main turns SIGTERM into the
// cancellation of run's context, which is what this test does; the load
// stops sending new requests once /readyz says 503, as a load balancer
// does, while requests already sent finish.
func TestDrainUnderLoad(t *testing.T) {
	srv := testredis.NewPrivate(t)
	env := faultEnv(t, srv)
	env["OAUTH2D_HTTP_DRAIN_DELAY"] = "1s"
	base, _, stop := serveUntilReady(t, env)
	access := password(base, 1).str("access_token")

	var sent, failed atomic.Int64
	var draining atomic.Bool
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !draining.Load() && ctx.Err() == nil {
				var a answer
				if w%2 == 0 {
					a = get(base, "/api/v1/me", access)
				} else {
					a = tokenRequest(base, "service", "service-secret", url.Values{"grant_type": {"client_credentials"}})
				}
				sent.Add(1)
				if a.err != nil || a.status != 200 {
					if failed.Add(1) == 1 {
						t.Errorf("request during the drain failed: %d %v %v", a.status, a.body, a.err)
					}
				}
			}
		}()
	}
	var readyTurned time.Duration
	watcher := make(chan struct{})
	var termAt time.Time
	go func() { // the load balancer
		defer close(watcher)
		for ctx.Err() == nil {
			if a := get(base, "/readyz", ""); a.status == http.StatusServiceUnavailable {
				readyTurned = time.Since(termAt)
				draining.Store(true)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	termAt = time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	<-watcher
	wg.Wait()
	if err := <-stopped; err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	t.Logf("%d requests, %d failed; /readyz 503 %v after SIGTERM", sent.Load(), failed.Load(), readyTurned.Round(time.Millisecond))
	if readyTurned > 500*time.Millisecond {
		t.Errorf("/readyz turned 503 %v after SIGTERM, want at once", readyTurned)
	}
}

// While it drains (http.drain_delay), an instance still answers requests,
// so it must still learn of revocations made elsewhere: a token revoked
// during the drain is refused by the draining instance too.
func TestRevocationsFollowedWhileDraining(t *testing.T) {
	srv := testredis.NewPrivate(t)
	env := faultEnv(t, srv)
	env["OAUTH2D_HTTP_DRAIN_DELAY"] = "3s"
	base, _, stop := serveUntilReady(t, env)
	access := password(base, 1).str("access_token")
	if me := get(base, "/api/v1/me", access); me.status != http.StatusOK {
		t.Fatalf("/api/v1/me = %d %v", me.status, me.body)
	}
	st, err := storage.Open(context.Background(), storage.Options{URL: srv.URL, Prefix: srv.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.GetUserByUsername(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	for get(base, "/readyz", "").status != http.StatusServiceUnavailable {
		time.Sleep(10 * time.Millisecond)
	}
	// Another instance revokes every token of the user.
	nbf := time.Now().Truncate(time.Second).Add(time.Second)
	if err := st.SetCutoff(context.Background(), storage.Cutoff{Principal: storage.SubjectCutoff(u.ID), NotBefore: nbf, Until: nbf.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		me := get(base, "/api/v1/me", access)
		if me.status == http.StatusUnauthorized {
			break
		}
		if me.err != nil || time.Now().After(deadline) {
			t.Errorf("a token revoked during the drain: %d %v %v, want 401", me.status, me.body, me.err)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
}
