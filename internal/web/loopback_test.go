package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// RFC 8252 §7.3: a native app registered with http://127.0.0.1/callback
// completes the code flow on the port it picked at run time; the token
// request names the same URI as the authorization request.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	const registered, used = "http://127.0.0.1/callback", "http://127.0.0.1:51234/callback"
	c := &storage.Client{ID: "native-cli", Public: true, FirstParty: true, GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid"}, RedirectURIs: []string{registered, "http://localhost/callback"}}
	if err := s.Store.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(c.ID, "openid")
	params.Set("redirect_uri", used)
	// A public app on a loopback redirect is asked every time (RFC 8252
	// §8.6), first party or not.
	p := b.SubmitConsent(b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword), "allow")
	loc := p.Location()
	if p.Status != http.StatusFound || loc == nil || loc.Scheme+"://"+loc.Host+loc.Path != used {
		t.Fatalf("want a redirect to %s, got %d %v", used, p.Status, loc)
	}
	code := loc.Query().Get("code")
	exchange := func(redirect string) webtest.TokenResponse {
		return s.PostToken(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"redirect_uri": {redirect}}, c.ID, "")
	}
	if tr := exchange("http://127.0.0.1:9999/callback"); tr.Str("access_token") != "" {
		t.Fatal("the token request named another port and got a token")
	}

	// A fresh code: the failed exchange above used up the first one.
	p = b.SubmitConsent(b.Authorize(params), "allow")
	code = p.Location().Query().Get("code")
	if tr := exchange(used); tr.Str("id_token") == "" {
		t.Fatalf("exchange with %s: %v", used, tr)
	}

	// localhost stays exact.
	params.Set("redirect_uri", "http://localhost:51234/callback")
	if p := b.Get("/oauth2/authorize?" + params.Encode()); p.Status != http.StatusBadRequest {
		t.Fatalf("localhost on another port: %d", p.Status)
	}
}
