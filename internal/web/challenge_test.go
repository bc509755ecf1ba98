package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// Clients of the challenge tests besides webtest's.
const (
	nativeID  = "native-app" // public, first-party
	selfRegID = "self-registered-app"
)

func addChallengeClients(t *testing.T, s *webtest.Server) {
	t.Helper()
	for _, c := range []*storage.Client{
		{ID: nativeID, Public: true, FirstParty: true, GrantTypes: []string{"authorization_code", "refresh_token"},
			Scopes: webtest.AllScopes, RedirectURIs: []string{webtest.DefaultRedirect}},
		{ID: selfRegID, Public: true, FirstParty: true, SelfRegistered: true, GrantTypes: []string{"authorization_code"},
			Scopes: webtest.AllScopes, RedirectURIs: []string{webtest.DefaultRedirect}},
	} {
		if err := s.Store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
}

// challenge posts to the authorization challenge endpoint as client (a
// public client when secret is "").
func challenge(t *testing.T, s *webtest.Server, form url.Values, client, secret string) webtest.TokenResponse {
	t.Helper()
	form.Set("client_id", client)
	if secret != "" {
		form.Set("client_secret", secret)
	}
	res, err := s.HTTPClient().PostForm(s.URL+oauth.AuthorizationChallengePath, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := webtest.TokenResponse{Status: res.StatusCode, Raw: string(raw)}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		t.Fatalf("not JSON: %d %q", res.StatusCode, raw)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	if res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	return out
}

func wantChallengeError(t *testing.T, res webtest.TokenResponse, status int, code string) {
	t.Helper()
	if res.Status != status || res.Str("error") != code {
		t.Fatalf("got %d %s, want %d %s", res.Status, res.Raw, status, code)
	}
}

func passwordForm(user, password, challenge string) url.Values {
	return url.Values{"username": {user}, "password": {password}, "scope": {"openid profile"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
}

// redeem exchanges a challenge code at the token endpoint (no
// redirect_uri) and returns the ID token's claims.
func redeem(t *testing.T, s *webtest.Server, code, verifier, client, secret string) map[string]any {
	t.Helper()
	tok := s.PostToken(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}, client, secret)
	if tok.Status != http.StatusOK || tok.Str("id_token") == "" {
		t.Fatalf("redeem: %d %s", tok.Status, tok.Raw)
	}
	return claimsOf(t, tok.Str("id_token"))
}

func TestAuthorizationChallengePasswordOnly(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	addChallengeClients(t, s)
	md := s.HTTPClient()
	res, err := md.Get(s.URL + oauth.OpenIDMetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	_ = json.NewDecoder(res.Body).Decode(&meta)
	res.Body.Close()
	if meta["authorization_challenge_endpoint"] != s.Issuer+oauth.AuthorizationChallengePath {
		t.Errorf("discovery: authorization_challenge_endpoint = %v", meta["authorization_challenge_endpoint"])
	}

	for _, c := range []struct{ id, secret string }{{nativeID, ""}, {webtest.FirstPartyID, webtest.FirstPartySecret}} {
		verifier, ch := webtest.PKCE()
		got := challenge(t, s, passwordForm("alice", webtest.AlicePassword, ch), c.id, c.secret)
		if got.Status != http.StatusOK || got.Str("authorization_code") == "" {
			t.Fatalf("%s: %d %s", c.id, got.Status, got.Raw)
		}
		if claims := redeem(t, s, got.Str("authorization_code"), verifier, c.id, c.secret); !slices.Equal(amrOf(claims), []string{"pwd"}) {
			t.Fatalf("%s: amr %v", c.id, claims["amr"])
		}
	}

	_, ch := webtest.PKCE()
	wantChallengeError(t, challenge(t, s, passwordForm("alice", "wrong", ch), nativeID, ""), http.StatusBadRequest, "invalid_grant")
	noPKCE := passwordForm("alice", webtest.AlicePassword, ch)
	noPKCE.Del("code_challenge")
	wantChallengeError(t, challenge(t, s, noPKCE, nativeID, ""), http.StatusBadRequest, "invalid_request")
	plain := passwordForm("alice", webtest.AlicePassword, ch)
	plain.Set("code_challenge_method", "plain")
	wantChallengeError(t, challenge(t, s, plain, nativeID, ""), http.StatusBadRequest, "invalid_request")
	for _, c := range []struct{ id, secret string }{{webtest.ThirdPartyID, webtest.ThirdPartySecret}, {webtest.PublicID, ""}, {selfRegID, ""}} {
		wantChallengeError(t, challenge(t, s, passwordForm("alice", webtest.AlicePassword, ch), c.id, c.secret), http.StatusBadRequest, "unauthorized_client")
	}
	wantChallengeError(t, challenge(t, s, passwordForm("alice", webtest.AlicePassword, ch), webtest.FirstPartyID, "wrong-secret"), http.StatusUnauthorized, "invalid_client")
}

func TestAuthorizationChallengeSecondFactor(t *testing.T) {
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now})
	addChallengeClients(t, s)
	b := s.NewBrowser(t)
	signInPassword(t, b, "alice", webtest.AlicePassword)
	totpSecret, recovery := enrolTOTP(t, b, clock)
	clock.Advance(30 * time.Second)

	// The password grant refuses her; the challenge endpoint asks for a factor.
	verifier, ch := webtest.PKCE()
	got := challenge(t, s, passwordForm("alice", webtest.AlicePassword, ch), nativeID, "")
	wantChallengeError(t, got, http.StatusBadRequest, "insufficient_authorization")
	sess := got.Str("auth_session")
	factors, _ := got.Body["factors"].([]any)
	if sess == "" || len(factors) != 2 || got.Str("authorization_code") != "" {
		t.Fatalf("insufficient_authorization: %s", got.Raw)
	}

	// A wrong code: refused, the session lives on.
	wantChallengeError(t, challenge(t, s, url.Values{"auth_session": {sess}, "totp": {"000000"}}, nativeID, ""),
		http.StatusBadRequest, "insufficient_authorization")
	// Another client cannot use the session, nor another PKCE challenge.
	wantChallengeError(t, challenge(t, s, url.Values{"auth_session": {sess}, "totp": {totpCode(t, totpSecret, clock)}},
		webtest.FirstPartyID, webtest.FirstPartySecret), http.StatusBadRequest, "invalid_session")
	_, other := webtest.PKCE()
	wantChallengeError(t, challenge(t, s, url.Values{"auth_session": {sess}, "totp": {totpCode(t, totpSecret, clock)},
		"code_challenge": {other}, "code_challenge_method": {"S256"}}, nativeID, ""), http.StatusBadRequest, "invalid_session")

	ok := challenge(t, s, url.Values{"auth_session": {sess}, "totp": {totpCode(t, totpSecret, clock)}}, nativeID, "")
	if ok.Status != http.StatusOK || ok.Str("authorization_code") == "" {
		t.Fatalf("right code: %d %s", ok.Status, ok.Raw)
	}
	claims := redeem(t, s, ok.Str("authorization_code"), verifier, nativeID, "")
	if claims["acr"] != account.ACRMFA || !slices.Contains(amrOf(claims), "otp") || !slices.Contains(amrOf(claims), "mfa") {
		t.Fatalf("claims after the second factor: acr %v amr %v", claims["acr"], claims["amr"])
	}
	// Used once only.
	clock.Advance(30 * time.Second)
	wantChallengeError(t, challenge(t, s, url.Values{"auth_session": {sess}, "totp": {totpCode(t, totpSecret, clock)}}, nativeID, ""),
		http.StatusBadRequest, "invalid_session")

	// A recovery code works too.
	verifier, ch = webtest.PKCE()
	sess = challenge(t, s, passwordForm("alice", webtest.AlicePassword, ch), nativeID, "").Str("auth_session")
	ok = challenge(t, s, url.Values{"auth_session": {sess}, "recovery_code": {recovery[0]}}, nativeID, "")
	if ok.Status != http.StatusOK {
		t.Fatalf("recovery code: %d %s", ok.Status, ok.Raw)
	}
	redeem(t, s, ok.Str("authorization_code"), verifier, nativeID, "")

	// The attempts of one session are bounded.
	_, ch = webtest.PKCE()
	sess = challenge(t, s, passwordForm("alice", webtest.AlicePassword, ch), nativeID, "").Str("auth_session")
	for i := range 5 {
		wantChallengeError(t, challenge(t, s, url.Values{"auth_session": {sess}, "totp": {fmt.Sprintf("%06d", i)}}, nativeID, ""),
			http.StatusBadRequest, "insufficient_authorization")
	}
	clock.Advance(30 * time.Second)
	wantChallengeError(t, challenge(t, s, url.Values{"auth_session": {sess}, "totp": {totpCode(t, totpSecret, clock)}}, nativeID, ""),
		http.StatusBadRequest, "invalid_session")
}

// A wrong second factor spends the same budgets as the second-factor
// page: once they are spent even the right code is refused with 429, and
// the session is still there to use once they refill.
func TestAuthorizationChallengeSpendsBudget(t *testing.T) {
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now, Limits: ratelimit.Limits{PerUsernameIP: 3, PerIP: 100, PerUsername: 100}})
	addChallengeClients(t, s)
	b := s.NewBrowser(t)
	signInPassword(t, b, "alice", webtest.AlicePassword)
	totpSecret, _ := enrolTOTP(t, b, clock)
	clock.Advance(30 * time.Second)

	_, ch := webtest.PKCE()
	sess := challenge(t, s, passwordForm("alice", webtest.AlicePassword, ch), nativeID, "").Str("auth_session")
	for range 3 {
		wantChallengeError(t, challenge(t, s, url.Values{"auth_session": {sess}, "totp": {"111111"}}, nativeID, ""),
			http.StatusBadRequest, "insufficient_authorization")
	}
	got := challenge(t, s, url.Values{"auth_session": {sess}, "totp": {totpCode(t, totpSecret, clock)}}, nativeID, "")
	if got.Status != http.StatusTooManyRequests || got.Str("authorization_code") != "" {
		t.Fatalf("after the budget: %d %s, want 429", got.Status, got.Raw)
	}
}

// An admin whose role requires a factor she has not enrolled is sent to
// the browser.
func TestAuthorizationChallengeRedirectToWeb(t *testing.T) {
	s := webtest.New(t, webtest.Options{MFARequiredRoles: []string{"admin"}})
	addChallengeClients(t, s)
	_, ch := webtest.PKCE()
	wantChallengeError(t, challenge(t, s, passwordForm("admin", webtest.AdminPassword, ch), nativeID, ""), http.StatusBadRequest, "redirect_to_web")
}

// With Redis stalled for auth sessions the endpoint answers 503, not 500.
func TestAuthorizationChallengeWhenRedisStalls(t *testing.T) {
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now})
	addChallengeClients(t, s)
	b := s.NewBrowser(t)
	signInPassword(t, b, "alice", webtest.AlicePassword)
	enrolTOTP(t, b, clock)
	stall := &stallKeys{part: s.Store.Prefix() + "auth-session:"}
	s.Store.Redis().AddHook(stall)
	stall.on.Store(true)
	_, ch := webtest.PKCE()
	wantChallengeError(t, challenge(t, s, passwordForm("alice", webtest.AlicePassword, ch), nativeID, ""),
		http.StatusServiceUnavailable, "temporarily_unavailable")
	stall.on.Store(false)
	sess := challenge(t, s, passwordForm("alice", webtest.AlicePassword, ch), nativeID, "").Str("auth_session")
	if strings.Contains(s.RedisURL, ",") {
		// As passkeys_faults_test.go's used-challenge cases: on a Cluster
		// the hook on Store.Redis() does not see the session's take.
		t.Skip("on a Redis Cluster, never-re-sent scripts go to the node clients (runScriptOnce), which a hook on Store.Redis() does not wrap")
	}
	stall.on.Store(true)
	wantChallengeError(t, challenge(t, s, url.Values{"auth_session": {sess}, "totp": {"123456"}}, nativeID, ""),
		http.StatusServiceUnavailable, "temporarily_unavailable")
}
