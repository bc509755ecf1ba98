package oauth_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// signIn signs alice (or user) in on b through the login page, without an
// authorization request.
func signIn(t *testing.T, b *webtest.Browser, user, pass string) {
	t.Helper()
	p := b.SubmitLogin(b.Get("/login"), user, pass)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "connected applications") {
		t.Fatalf("sign in: %d %s", p.Status, p.Body)
	}
}

// codeFor runs the flow for alice with consent allowed and returns the
// callback parameters.
func codeFor(t *testing.T, s *webtest.Server, b *webtest.Browser, params url.Values) url.Values {
	t.Helper()
	p := b.Authorize(params)
	if strings.Contains(p.Body, `name="password"`) {
		p = b.SubmitLogin(p, "alice", webtest.AlicePassword)
	}
	if strings.Contains(p.Body, `name="decision"`) {
		p = b.SubmitConsent(p, "allow")
	}
	return s.Callback(t, p)
}

func TestAuthorizeCodeFlowWithConsent(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile email offline_access")

	login := b.Authorize(params)
	if login.Status != http.StatusOK || !strings.Contains(login.Body, "Third Party App") {
		t.Fatalf("want the login page naming the client, got %d %s", login.Status, login.Body)
	}
	consent := b.SubmitLogin(login, "alice", webtest.AlicePassword)
	for _, want := range []string{"Third Party App", "See your email address", "Keep access when you are not using it", "localhost:9000"} {
		if !strings.Contains(consent.Body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	cb := s.Callback(t, b.SubmitConsent(consent, "allow"))
	if cb.Get("state") != params.Get("state") || cb.Get("iss") != s.Issuer || len(cb.Get("code")) < 43 {
		t.Fatalf("callback = %v", cb)
	}
	tok := s.Exchange(t, cb.Get("code"), verifier, webtest.ThirdPartyID, webtest.ThirdPartySecret)
	if tok.Status != http.StatusOK || tok.Str("id_token") == "" || tok.Str("refresh_token") == "" {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Raw)
	}
	if tok.Str("scope") != "openid profile email offline_access" {
		t.Errorf("scope = %q", tok.Str("scope"))
	}

	t.Run("resume cannot be replayed", func(t *testing.T) {
		p := b.Get(consent.URL.String()) // the consent page of the answered request
		if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
			t.Fatalf("got %d %s", p.Status, p.Header.Get("Location"))
		}
	})
	t.Run("remembered consent skips the page", func(t *testing.T) {
		again, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
		cb := s.Callback(t, b.Authorize(again))
		if cb.Get("code") == "" {
			t.Fatalf("callback = %v", cb)
		}
	})
	t.Run("wider scope asks again", func(t *testing.T) {
		wider, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid comments:write")
		p := b.Authorize(wider)
		if !strings.Contains(p.Body, "Post comments as you") {
			t.Fatalf("want the consent page, got %d %s", p.Status, p.Body)
		}
	})
	t.Run("revoked consent brings the page back and ends the grant", func(t *testing.T) {
		acct := b.Get("/account/consents")
		if !strings.Contains(acct.Body, "Third Party App") {
			t.Fatalf("account page: %s", acct.Body)
		}
		p := b.Post("/account/consents/revoke", url.Values{"client_id": {webtest.ThirdPartyID}, "csrf_token": {acct.Hidden("csrf_token")}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("revoke: %d %s", p.Status, p.Body)
		}
		if s.Active(t, tok.Str("access_token")) {
			t.Error("access token still active after the consent was revoked")
		}
		refreshed := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}},
			webtest.ThirdPartyID, webtest.ThirdPartySecret)
		if refreshed.Status != http.StatusBadRequest {
			t.Errorf("refresh after revoke: %d %s", refreshed.Status, refreshed.Raw)
		}
		again, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid")
		if p := b.Authorize(again); !strings.Contains(p.Body, `name="decision"`) {
			t.Fatalf("want the consent page again, got %d %s", p.Status, p.Body)
		}
	})
}

func TestAuthorizeConsentDenied(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid")
	p := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
	cb := s.Callback(t, b.SubmitConsent(p, "deny"))
	if cb.Get("error") != "access_denied" || cb.Get("state") != params.Get("state") || cb.Get("iss") != s.Issuer || cb.Has("code") {
		t.Fatalf("callback = %v", cb)
	}
}

// Requests whose client or redirect URI cannot be trusted get an error
// page, never a redirect (RFC 6749 §4.1.2.1).
func TestAuthorizeUntrustedRequestsShowAPage(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	tests := []struct {
		name   string
		change func(url.Values)
	}{
		{"unknown client", func(v url.Values) { v.Set("client_id", "nobody") }},
		{"no client", func(v url.Values) { v.Del("client_id") }},
		{"repeated client_id", func(v url.Values) { v.Add("client_id", webtest.FirstPartyID) }},
		{"repeated redirect", func(v url.Values) { v.Add("redirect_uri", webtest.DefaultRedirect) }},
		{"omitted with two registered", func(v url.Values) {
			v.Set("client_id", webtest.MultiRedirectID)
			v.Del("redirect_uri")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid")
			tc.change(params)
			checkErrorPage(t, "GET", b.Get("/oauth2/authorize?"+params.Encode()))
		})
	}
}

// lookAlikeRedirects are redirect URIs that resemble the registered
// DefaultRedirect (http://localhost:9000/callback) but are not it; each
// would pass a prefix, host-suffix, case-insensitive or parsed-host match.
var lookAlikeRedirects = []struct{ name, uri string }{
	{"unregistered", "https://evil.example/callback"},
	{"trailing slash", webtest.DefaultRedirect + "/"},
	{"path traversal", webtest.DefaultRedirect + "/../evil"},
	{"longer path", webtest.DefaultRedirect + "evil"},
	{"extra query", webtest.DefaultRedirect + "?next=evil"},
	{"fragment", webtest.DefaultRedirect + "#evil"},
	{"case change", strings.ToUpper(webtest.DefaultRedirect)},
	{"https instead of http", "https://localhost:9000/callback"},
	{"host suffix", "http://localhost:9000.evil.example/callback"},
	{"host prefix", "http://evil-localhost:9000/callback"},
	{"subdomain", "http://evil.localhost:9000/callback"},
	{"userinfo trick", "http://localhost:9000@evil.example/callback"},
	{"backslash trick", `http://evil.example\@localhost:9000/callback`},
	{"other port", "http://localhost:9001/callback"},
	{"no port", "http://localhost/callback"},
	{"percent-encoded path", "http://localhost:9000/%63allback"},
}

// TestAuthorizeLookAlikeRedirectShowsAPage sends every look-alike redirect
// URI with requests that are otherwise valid and with requests that are
// also wrong in a way that would be redirected back to a trusted URI (RFC
// 6749 §4.1.2.1). None may produce a redirect: an error answered to an
// address the client never registered is an open redirect.
func TestAuthorizeLookAlikeRedirectShowsAPage(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	signIn(t, b, "alice", webtest.AlicePassword) // a signed-in user would get a code straight away
	otherwise := []struct {
		name   string
		change func(url.Values)
	}{
		{"otherwise valid", func(url.Values) {}},
		{"response_type token", func(v url.Values) { v.Set("response_type", "token") }},
		{"no response_type", func(v url.Values) { v.Del("response_type") }},
		{"scope the client may not ask for", func(v url.Values) { v.Set("scope", "openid launch-missiles") }},
		{"no PKCE", func(v url.Values) {
			v.Del("code_challenge")
			v.Del("code_challenge_method")
		}},
		{"plain PKCE", func(v url.Values) { v.Set("code_challenge_method", "plain") }},
		{"prompt none", func(v url.Values) { v.Set("prompt", "none") }},
	}
	for _, clientID := range []string{webtest.PublicID, webtest.ThirdPartyID} {
		for _, redirect := range lookAlikeRedirects {
			for _, tc := range otherwise {
				t.Run(clientID+"/"+redirect.name+"/"+tc.name, func(t *testing.T) {
					params, _ := webtest.CodeRequest(clientID, "openid")
					params.Set("redirect_uri", redirect.uri)
					tc.change(params)
					checkErrorPage(t, "GET", b.Get("/oauth2/authorize?"+params.Encode()))
					checkErrorPage(t, "POST", b.Post("/oauth2/authorize", params))
				})
			}
		}
	}
}

// checkErrorPage asserts the HTML error page of an untrusted request: 400,
// no redirect, and nothing of the untrusted URI repeated.
func checkErrorPage(t *testing.T, method string, p *webtest.Page) {
	t.Helper()
	if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
		t.Fatalf("%s %s: got %d Location=%q, want 400 and no redirect", method, p.URL.Path, p.Status, p.Header.Get("Location"))
	}
	if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") || p.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("%s: headers = %v", method, p.Header)
	}
	if strings.Contains(p.Body, "evil") {
		t.Errorf("%s: the error page repeats the untrusted redirect URI", method)
	}
}

// Once client and redirect URI are trusted, errors go back to the client
// with state and iss (RFC 6749 §4.1.2.1, RFC 9207).
func TestAuthorizeErrorsAreRedirected(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	strict := webtest.New(t, webtest.Options{PKCERequiredForAll: true})
	tests := []struct {
		name   string
		srv    *webtest.Server
		change func(url.Values)
		want   string
	}{
		{"response_type token", s, func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		{"hybrid response_type", s, func(v url.Values) { v.Set("response_type", "code id_token") }, "unsupported_response_type"},
		{"missing response_type", s, func(v url.Values) { v.Del("response_type") }, "invalid_request"},
		{"public client without PKCE", s, func(v url.Values) {
			v.Set("client_id", webtest.PublicID)
			v.Del("code_challenge")
			v.Del("code_challenge_method")
		}, "invalid_request"},
		{"plain PKCE", s, func(v url.Values) { v.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"challenge without method means plain", s, func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request"},
		{"malformed challenge", s, func(v url.Values) { v.Set("code_challenge", "short") }, "invalid_request"},
		{"confidential without PKCE when required for all", strict, func(v url.Values) {
			v.Del("code_challenge")
			v.Del("code_challenge_method")
		}, "invalid_request"},
		{"scope the client may not ask for", s, func(v url.Values) { v.Set("scope", "openid launch-missiles") }, "invalid_scope"},
		{"client not registered for the code grant", s, func(v url.Values) { v.Set("client_id", webtest.ServiceID) }, "unauthorized_client"},
		{"request object", s, func(v url.Values) { v.Set("request", "eyJhbGciOiJub25lIn0.e30.") }, "request_not_supported"},
		{"request_uri", s, func(v url.Values) { v.Set("request_uri", "https://evil.example/r") }, "request_uri_not_supported"},
		{"response_mode fragment", s, func(v url.Values) { v.Set("response_mode", "fragment") }, "invalid_request"},
		{"unknown prompt", s, func(v url.Values) { v.Set("prompt", "select_account") }, "invalid_request"},
		{"prompt none with login", s, func(v url.Values) { v.Set("prompt", "none login") }, "invalid_request"},
		{"negative max_age", s, func(v url.Values) { v.Set("max_age", "-1") }, "invalid_request"},
		{"repeated scope", s, func(v url.Values) { v.Add("scope", "profile") }, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid")
			tc.change(params)
			p := tc.srv.NewBrowser(t).Get("/oauth2/authorize?" + params.Encode())
			if p.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", p.Header.Get("Cache-Control"))
			}
			cb := tc.srv.Callback(t, p)
			if cb.Get("error") != tc.want || cb.Get("state") != params.Get("state") || cb.Get("iss") != tc.srv.Issuer || cb.Has("code") {
				t.Fatalf("callback = %v, want error=%s with state and iss", cb, tc.want)
			}
		})
	}
	t.Run("a malformed state is not echoed", func(t *testing.T) {
		params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid")
		params.Set("state", "bad\x01state")
		cb := s.Callback(t, s.NewBrowser(t).Get("/oauth2/authorize?"+params.Encode()))
		if cb.Get("error") != "invalid_request" || cb.Has("state") {
			t.Fatalf("callback = %v", cb)
		}
	})
}

func TestAuthorizeTokenEndpointChecks(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	code := func(t *testing.T, scope string) (string, string) {
		t.Helper()
		params, verifier := webtest.CodeRequest(webtest.ThirdPartyID, scope)
		return codeFor(t, s, b, params).Get("code"), verifier
	}

	t.Run("wrong verifier", func(t *testing.T) {
		c, _ := code(t, "openid")
		other, _ := webtest.PKCE()
		if res := s.Exchange(t, c, other, webtest.ThirdPartyID, webtest.ThirdPartySecret); res.Str("error") != "invalid_grant" {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
	t.Run("missing verifier", func(t *testing.T) {
		c, _ := code(t, "openid")
		if res := s.Exchange(t, c, "", webtest.ThirdPartyID, webtest.ThirdPartySecret); res.Str("error") != "invalid_grant" {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
	t.Run("redeemed by another client", func(t *testing.T) {
		c, v := code(t, "openid")
		if res := s.Exchange(t, c, v, webtest.FirstPartyID, webtest.FirstPartySecret); res.Str("error") != "invalid_grant" {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
	t.Run("replay is refused and revokes the first tokens", func(t *testing.T) {
		c, v := code(t, "openid offline_access")
		first := s.Exchange(t, c, v, webtest.ThirdPartyID, webtest.ThirdPartySecret)
		if first.Status != http.StatusOK {
			t.Fatalf("first: %d %s", first.Status, first.Raw)
		}
		if res := s.Exchange(t, c, v, webtest.ThirdPartyID, webtest.ThirdPartySecret); res.Str("error") != "invalid_grant" {
			t.Fatalf("replay: %d %s", res.Status, res.Raw)
		}
		if s.Active(t, first.Str("access_token")) {
			t.Error("the first exchange's access token is still active")
		}
		if s.ActiveFor(t, first.Str("refresh_token"), webtest.ThirdPartyID, webtest.ThirdPartySecret) {
			t.Error("the first exchange's refresh token is still active")
		}
	})
	t.Run("20 concurrent redemptions, one winner", func(t *testing.T) {
		c, v := code(t, "openid")
		var wg sync.WaitGroup
		results := make([]webtest.TokenResponse, 20)
		errs := make([]error, len(results))
		start := make(chan struct{})
		for i := range results {
			wg.Go(func() {
				<-start
				results[i], errs[i] = s.TryExchange(c, v, webtest.ThirdPartyID, webtest.ThirdPartySecret)
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		wins := 0
		for _, r := range results {
			switch {
			case r.Status == http.StatusOK:
				wins++
			case r.Status != http.StatusBadRequest || r.Str("error") != "invalid_grant":
				t.Errorf("loser got %d %s, want 400 invalid_grant", r.Status, r.Raw)
			}
		}
		if wins != 1 {
			t.Fatalf("%d redemptions succeeded, want 1", wins)
		}
	})
	t.Run("omitted redirect_uri may be omitted at the token endpoint", func(t *testing.T) {
		params, verifier := webtest.CodeRequest(webtest.ThirdPartyID, "openid")
		params.Del("redirect_uri")
		c := codeFor(t, s, b, params).Get("code")
		f := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {verifier}}
		if res := s.PostToken(t, f, webtest.ThirdPartyID, webtest.ThirdPartySecret); res.Status != http.StatusOK {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
	t.Run("public client with PKCE", func(t *testing.T) {
		params, verifier := webtest.CodeRequest(webtest.PublicID, "openid")
		c := codeFor(t, s, b, params).Get("code")
		if res := s.Exchange(t, c, verifier, webtest.PublicID, ""); res.Status != http.StatusOK {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
}
