package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/resourceserver"
)

// Issue 19, measured: how soon an API that is not oauth2d, protected by
// package resourceserver and following the revocation feed, refuses a
// token revoked at another oauth2d instance, without a call per request.
// Three instances share one Redis; the API verifies against instance 0's
// JWKS and follows instance 1's feed; tokens come from instance i%3 and
// are revoked at instance (i+2)%3, three ways:
//
//   - token: RFC 7009 revocation of the access token (a jti denied);
//   - user: the admin API's revoke-tokens (a cutoff for the user);
//   - session: the app's sign-out at the built-in API, POST
//     /api/v1/logout (its token denied and its grant's refresh families
//     revoked).
//
// The figures are logged (p50, p99, max per kind), with the requests per
// second the API serves verifying locally next to introspecting every
// request. It asserts only that every revocation reaches the API within
// reachLimit; speed is measured, not asserted. OAUTH2D_REACH_TRIES sets
// the tries per kind (default 20; the README's figures use 200).
func TestRevocationReach(t *testing.T) {
	tries := 20
	if n, err := strconv.Atoi(os.Getenv("OAUTH2D_REACH_TRIES")); err == nil && n > 0 {
		tries = n
	}
	const reachLimit = 5 * time.Second
	env, _ := adminEnv(t)
	env["OAUTH2D_KEYS_SOURCE"] = "redis"
	env["OAUTH2D_KEY_ENCRYPTION_KEY"] = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("q", 32)))
	env["OAUTH2D_KEYS_ID_TOKEN_ALGORITHM"] = "ES256"
	env["OAUTH2D_LOG_LEVEL"] = "error"
	mustRun(t, env, "app-secret-of-the-reach-test\n", "client", "create", "--id", "app", "--secret-stdin", "--first-party",
		"--grant-type", "password", "--grant-type", "refresh_token", "--scope", "profile comments:read offline_access")
	mustRun(t, env, "rs-secret-of-the-reach-test\n", "client", "create", "--id", "rs", "--secret-stdin",
		"--grant-type", "client_credentials", "--scope", "comments:read", "--introspection-audience", "http://localhost:8080/api")
	mustRun(t, env, "admin-secret-of-the-reach-test\n", "client", "create", "--id", "ops", "--secret-stdin",
		"--grant-type", "client_credentials", "--scope", "admin")
	mustRun(t, env, "password-of-u1\n", "user", "create", "--username", "u1", "--role", "user")

	instances := make([]*serving, 3)
	for i := range instances {
		own := make(map[string]string, len(env))
		for k, v := range env {
			own[k] = v
		}
		instances[i] = startServe(t, own)
		defer func() { _ = instances[i].stop() }()
	}
	for _, in := range instances {
		in.waitReady(t, time.Minute)
	}
	issuer := "http://localhost:8080" // the configuration's default: every instance's iss

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	verifier, err := resourceserver.NewJWKSVerifier(ctx, resourceserver.JWKSConfig{
		Issuer: issuer, Audience: issuer + "/api", JWKSURL: instances[0].base + "/.well-known/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := resourceserver.NewFeedFollower(ctx, resourceserver.FeedConfig{
		URL: instances[1].base + "/oauth2/revocation-feed", ClientID: "rs", ClientSecret: "rs-secret-of-the-reach-test"})
	if err != nil {
		t.Fatal(err)
	}
	var followed sync.WaitGroup
	followed.Go(func() { _ = feed.Run(ctx) })
	defer followed.Wait()
	defer cancel()
	rs, err := resourceserver.New(resourceserver.Config{Realm: issuer, Verifier: verifier, Revocations: feed})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(rs.Require(resourceserver.Scopes("comments:read"))(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	defer api.Close()
	for deadline := time.Now().Add(10 * time.Second); feed.Ping(ctx) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the feed follower never became current")
		}
	}

	base := func(i int) string { return instances[i%3].base }
	userToken := func(i int) answer {
		a := tokenRequest(base(i), "app", "app-secret-of-the-reach-test", url.Values{"grant_type": {"password"},
			"username": {"u1"}, "password": {"password-of-u1"}, "scope": {"comments:read offline_access"}})
		if a.status != 200 {
			t.Fatalf("password grant at instance %d: %d %v", i%3, a.status, a.body)
		}
		return a
	}
	ops := tokenRequest(base(0), "ops", "admin-secret-of-the-reach-test", url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}})
	if ops.status != 200 {
		t.Fatalf("admin token: %d %v", ops.status, ops.body)
	}
	u1 := ""
	var userCut time.Time // the last cutoff of u1
	kinds := []struct {
		name   string
		revoke func(i int, tok answer) error
	}{
		{"token", func(i int, tok answer) error {
			if a := formRequest(base(i+2)+"/oauth2/revoke", "app", "app-secret-of-the-reach-test",
				url.Values{"token": {tok.str("access_token")}, "token_type_hint": {"access_token"}}); a.status != 200 {
				return fmt.Errorf("revoke: %d %v", a.status, a.body)
			}
			return nil
		}},
		{"user", func(i int, tok answer) error {
			req, _ := http.NewRequest(http.MethodPost, base(i+2)+"/admin/v1/users/"+u1+"/revoke-tokens", nil)
			req.Header.Set("Authorization", "Bearer "+ops.str("access_token"))
			if a := do(req); a.status != 200 {
				return fmt.Errorf("admin revoke-tokens: %d %v", a.status, a.body)
			}
			return nil
		}},
		{"session", func(i int, tok answer) error {
			req, _ := http.NewRequest(http.MethodPost, base(i+2)+"/api/v1/logout", nil)
			req.Header.Set("Authorization", "Bearer "+tok.str("access_token"))
			if a := do(req); a.status/100 != 2 {
				return fmt.Errorf("app sign-out: %d %v", a.status, a.body)
			}
			return nil
		}},
	}
	call := func(access string) int {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, kind := range kinds {
		reach := make([]time.Duration, 0, tries)
		for i := range tries {
			if !userCut.IsZero() && time.Now().Unix() <= userCut.Unix() {
				// A token's iat is in whole seconds: one issued in the second
				// of the user's cutoff is revoked by it.
				time.Sleep(time.Until(userCut.Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
			}
			tok := userToken(i)
			if u1 == "" {
				u1 = subjectOf(t, tok.str("access_token"))
			}
			if st := call(tok.str("access_token")); st != http.StatusNoContent {
				t.Fatalf("%s %d: a fresh token at the external API: %d", kind.name, i, st)
			}
			// The API is asked while the revoking request is under way: the
			// reach is from its start until the API refuses, whatever else
			// that request still does (revoking refresh families, signing
			// the user out) before it answers.
			revoked := time.Now()
			done := make(chan error, 1)
			go func() { done <- kind.revoke(i, tok) }()
			for call(tok.str("access_token")) != http.StatusUnauthorized {
				if time.Since(revoked) > reachLimit {
					t.Fatalf("%s %d: still accepted %v after its revocation", kind.name, i, reachLimit)
				}
				time.Sleep(2 * time.Millisecond)
			}
			reach = append(reach, time.Since(revoked))
			if err := <-done; err != nil {
				t.Fatalf("%s %d: %v", kind.name, i, err)
			}
			if kind.name == "user" {
				userCut = time.Now()
			}
		}
		slices.Sort(reach)
		t.Logf("revocation reach, %s: p50 %v, p99 %v, max %v over %d tries (3 instances, feed follower at another instance)",
			kind.name, quantile(reach, 0.50), quantile(reach, 0.99), reach[len(reach)-1], len(reach))
	}

	// Requests per second of the external API: local verification with the
	// feed, next to an API that introspects every request.
	tok := userToken(0)
	introspecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		a := formRequest(base(1)+"/oauth2/introspect", "rs", "rs-secret-of-the-reach-test", url.Values{"token": {raw}})
		if a.body["active"] != true {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer introspecting.Close()
	rate := func(url string) float64 {
		var n atomic.Int64
		stop := time.Now().Add(2 * time.Second)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					req.Header.Set("Authorization", "Bearer "+tok.str("access_token"))
					if resp, err := http.DefaultClient.Do(req); err == nil {
						if resp.StatusCode == http.StatusNoContent {
							n.Add(1)
						}
						resp.Body.Close()
					}
				}
			})
		}
		wg.Wait()
		return float64(n.Load()) / 2
	}
	local, remote := rate(api.URL+"/"), rate(introspecting.URL+"/")
	t.Logf("external API, 8 clients: %.0f req/s verifying locally with the feed, %.0f req/s introspecting each request (%.1fx)",
		local, remote, local/max(remote, 1))
}

// formRequest posts form to endpoint with HTTP Basic client credentials.
func formRequest(endpoint, client, secret string, form url.Values) answer {
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	return do(req)
}

// subjectOf reads a token's sub without verifying it.
func subjectOf(t *testing.T, raw string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Sub == "" {
		t.Fatalf("no sub in %s: %v", payload, err)
	}
	return c.Sub
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))].Round(100 * time.Microsecond)
}
