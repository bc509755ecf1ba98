package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestTokenEndpointRefusesMalformedRequests(t *testing.T) {
	s := newServer(t)
	pw := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}
	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"query string credentials", "POST", "/oauth2/token?client_secret=x", "application/x-www-form-urlencoded", pw.Encode(), 400, "invalid_request"},
		{"json body", "POST", "/oauth2/token", "application/json", `{"grant_type":"password"}`, 400, "invalid_request"},
		{"malformed encoding", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=%zz", 400, "invalid_request"},
		{"repeated parameter", "POST", "/oauth2/token", "application/x-www-form-urlencoded", pw.Encode() + "&scope=a&scope=b", 400, "invalid_request"},
		{"oversized body", "POST", "/oauth2/token", "application/x-www-form-urlencoded", pw.Encode() + "&pad=" + strings.Repeat("a", 8192), 413, "invalid_request"},
		{"missing grant type", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "username=alice", 400, "invalid_request"},
		{"unknown grant type", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=urn:ietf:params:oauth:grant-type:device_code", 400, "unsupported_grant_type"},
		{"implicit is no grant", "POST", "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=__implicit", 400, "unsupported_grant_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, s.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.contentType)
			req.SetBasicAuth(firstPartyID, firstPartySecret)
			wantError(t, s.do(req), tc.status, tc.code)
		})
	}
}

func TestClientAuthentication(t *testing.T) {
	s := newServer(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	withBody := func(extra url.Values) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	s.runTokenCases(t, []tokenCase{
		{"basic ok", cc, serviceID, serviceSecret, 200, ""},
		{"post ok", withBody(url.Values{"client_id": {serviceID}, "client_secret": {serviceSecret}}), "", "", 200, ""},
		{"wrong secret", cc, serviceID, "wrong", 401, "invalid_client"},
		{"unknown client", cc, "nobody", serviceSecret, 401, "invalid_client"},
		{"no credentials", cc, "", "", 401, "invalid_client"},
		{"confidential client without secret", withBody(url.Values{"client_id": {serviceID}}), "", "", 401, "invalid_client"},
		{"two methods at once", withBody(url.Values{"client_secret": {serviceSecret}}), serviceID, serviceSecret, 400, "invalid_request"},
		{"body client_id differs from basic", withBody(url.Values{"client_id": {firstPartyID}}), serviceID, serviceSecret, 400, "invalid_request"},
		{"public client with a secret", url.Values{"grant_type": {"password"}}, publicID, "guess", 401, "invalid_client"},
		{"public client in basic with an empty password", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}, publicID, "", 200, ""},
		{"grant not registered for client", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}, serviceID, serviceSecret, 400, "unauthorized_client"},
		{"public client cannot use client credentials", withBody(url.Values{"client_id": {publicID}}), "", "", 400, "unauthorized_client"},
	})
	t.Run("secret with reserved characters is form-decoded from basic", func(t *testing.T) {
		// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic.
		res := s.post("/oauth2/token", cc, serviceID, serviceSecret) // post() escapes both
		if res.Status != 200 {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
}

// The client and its right to the password grant are settled before the
// password is checked: a wrong client learns nothing about passwords.
func TestPasswordGrantIsNoOracle(t *testing.T) {
	s := newServer(t)
	good := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}
	bad := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong"}}
	ghost := url.Values{"grant_type": {"password"}, "username": {"nobody"}, "password": {"wrong"}}
	s.runTokenCases(t, []tokenCase{
		{"right password, wrong client secret", good, firstPartyID, "wrong", 401, "invalid_client"},
		{"right password, third-party client", good, thirdPartyID, thirdPartySecret, 400, "unauthorized_client"},
		{"right password, scope the client lacks", withScope(good, "payments"), firstPartyID, firstPartySecret, 400, "invalid_scope"},
		{"wrong password", bad, firstPartyID, firstPartySecret, 400, "invalid_grant"},
		{"unknown user", ghost, firstPartyID, firstPartySecret, 400, "invalid_grant"},
		{"missing password", url.Values{"grant_type": {"password"}, "username": {"alice"}}, firstPartyID, firstPartySecret, 400, "invalid_request"},
		{"admin scope without admin role", withScope(good, "admin"), firstPartyID, firstPartySecret, 400, "invalid_scope"},
	})
	t.Run("unknown user and wrong password read the same", func(t *testing.T) {
		a := s.post("/oauth2/token", bad, firstPartyID, firstPartySecret)
		b := s.post("/oauth2/token", ghost, firstPartyID, firstPartySecret)
		if a.Raw != b.Raw {
			t.Fatalf("bodies differ: %s vs %s", a.Raw, b.Raw)
		}
	})
}

// tokenCase is a token request, its form sent with Basic credentials
// user and pass (none when user is empty), and the answer it must get:
// status 200 with an access token, or the error status and code.
type tokenCase struct {
	name       string
	form       url.Values
	user, pass string
	status     int
	code       string
}

func (s *server) runTokenCases(t *testing.T, cases []tokenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := s.post("/oauth2/token", tc.form, tc.user, tc.pass)
			if tc.status == 200 {
				if res.Status != 200 || res.str("access_token") == "" {
					t.Fatalf("got %d %s", res.Status, res.Raw)
				}
				return
			}
			wantError(t, res, tc.status, tc.code)
		})
	}
}

func withScope(f url.Values, scope string) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = v
	}
	out.Set("scope", scope)
	return out
}

func TestPasswordGrantIssuesTokens(t *testing.T) {
	s := newServer(t)
	res := s.passwordGrant("openid profile comments:read")
	if res.str("token_type") != "Bearer" || res.str("refresh_token") == "" || res.str("id_token") == "" {
		t.Fatalf("incomplete token response: %s", res.Raw)
	}
	if res.str("scope") != "openid profile comments:read" {
		t.Errorf("scope = %q", res.str("scope"))
	}
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Pragma") != "no-cache" {
		t.Errorf("token response is cacheable: %v", res.Header)
	}
	if !s.active(res.str("access_token")) || !s.activeFor(res.str("refresh_token"), firstPartyID, firstPartySecret) {
		t.Fatal("fresh tokens are not active")
	}
	t.Run("admin scope for an admin", func(t *testing.T) {
		f := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}, "scope": {"admin"}}
		res := s.post("/oauth2/token", f, firstPartyID, firstPartySecret)
		if res.Status != 200 || res.str("scope") != "admin" {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
	t.Run("public first-party client", func(t *testing.T) {
		f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "client_id": {publicID}}
		if res := s.post("/oauth2/token", f, "", ""); res.Status != 200 {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
}

// Concurrent guesses cannot race past the limit: the budget is spent in
// one atomic step per attempt.
func TestPasswordGrantRateLimit(t *testing.T) {
	s := newServer(t, withLimits(5, 1000))
	const attempts = 20
	results := race(t, attempts, func() (response, error) {
		f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"guess"}}
		return s.tryPost("/oauth2/token", f, firstPartyID, firstPartySecret)
	})
	counts := map[int]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	if counts[400] != 5 || counts[429] != attempts-5 {
		t.Fatalf("statuses = %v, want 5×400 and %d×429", counts, attempts-5)
	}
	// The limit is per username: bob's budget is untouched.
	f := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"guess"}}
	wantError(t, s.post("/oauth2/token", f, firstPartyID, firstPartySecret), 400, "invalid_grant")
}

func TestClientCredentialsGrant(t *testing.T) {
	s := newServer(t)
	res := s.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, serviceID, serviceSecret)
	if res.Status != 200 || res.str("refresh_token") != "" || res.str("id_token") != "" {
		t.Fatalf("got %d %s", res.Status, res.Raw)
	}
	if res.str("scope") != "comments:read" {
		t.Errorf("default scope = %q, want the client's scopes without openid", res.str("scope"))
	}
	wantError(t, s.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}, serviceID, serviceSecret), 400, "invalid_scope")
	wantError(t, s.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"comments:write"}}, serviceID, serviceSecret), 400, "invalid_scope")
}

// Every token request is reported once, with a bounded grant label and the
// outcome the client saw.
func TestTokenRequestsAreObserved(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	s := newServer(t, withObserver(func(grant, outcome string) {
		mu.Lock()
		seen[grant+" "+outcome]++
		mu.Unlock()
	}))
	s.passwordGrant("comments:read")
	s.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, serviceID, "wrong")
	s.post("/oauth2/token", url.Values{"grant_type": {"urn:example:made-up"}}, serviceID, serviceSecret)
	s.post("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"x"}}, firstPartyID, firstPartySecret)
	want := map[string]int{
		"password ok": 1, "client_credentials invalid_client": 1,
		"unknown unsupported_grant_type": 1, "password invalid_grant": 1,
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Fatalf("observed %v, want %v", seen, want)
	}
	for k, n := range want {
		if seen[k] != n {
			t.Fatalf("observed %v, want %v", seen, want)
		}
	}
}
