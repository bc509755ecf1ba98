package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// A scope described in the bootstrap file shows its title and description
// on the consent page and on /account/consents; a built-in one shows its
// default (or the file's replacement); one nobody described shows its name.
func TestScopeDescriptions(t *testing.T) {
	s := webtest.New(t, webtest.Options{ScopeTexts: []account.ScopeText{
		{Name: "reports:read", Title: "Read your reports", Description: "See the monthly <sales> reports of your team."},
		{Name: "email", Title: "See your work email address"},
	}})
	const clientID = "reports-app"
	if err := s.Store.CreateClient(t.Context(), &storage.Client{ID: clientID, Name: "Reports", Public: true,
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "email", "reports:read", "reports:export"},
		RedirectURIs: []string{s.RedirectURI}}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`<span class="scope-title">Read your reports</span><span class="scope-description">See the monthly &lt;sales&gt; reports of your team.</span>`,
		`<span class="scope-title">See your work email address</span></li>`,
		`<span class="scope-title">Confirm who you are</span><span class="scope-description">Sign you in`,
		`Use the permission <code>reports:export</code>`,
	}
	check := func(t *testing.T, page string, p *webtest.Page) {
		t.Helper()
		if p.Status != http.StatusOK {
			t.Fatalf("%s: status %d", page, p.Status)
		}
		for _, w := range want {
			if !strings.Contains(p.Body, w) {
				t.Errorf("%s lacks %q:\n%s", page, w, p.Body)
			}
		}
		if strings.Contains(p.Body, "See your email address") {
			t.Errorf("%s shows the built-in email text the file replaced", page)
		}
	}

	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(clientID, "openid email reports:read reports:export")
	consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
	check(t, "consent page", consent)
	if cb := s.Callback(t, b.SubmitConsent(consent, "allow")); cb.Get("code") == "" {
		t.Fatalf("callback = %v", cb)
	}
	check(t, "/account/consents", b.Get("/account/consents"))
}

// A request that names its resources (RFC 8707) shows them on the consent
// page by name, an unnamed one by its identifier; the code's tokens are
// for those resources alone.
func TestConsentNamesResources(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	const photos, clientID = "https://photos.example/", "photo-app"
	if err := s.Store.UpsertResource(t.Context(), &storage.Resource{ID: photos, Name: "Photo <album>", Scopes: []string{"photos:read"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Store.CreateClient(t.Context(), &storage.Client{ID: clientID, Public: true,
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "photos:read", "comments:read"},
		RedirectURIs: []string{s.RedirectURI}}); err != nil {
		t.Fatal(err)
	}
	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(clientID, "openid photos:read comments:read")
	params["resource"] = []string{photos, s.Issuer + "/api"}
	consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
	if want := `For: <strong>Photo &lt;album&gt;</strong>, <strong>Comments</strong>`; !strings.Contains(consent.Body, want) {
		t.Fatalf("consent page lacks %q:\n%s", want, consent.Body)
	}

	// A scope the named resources do not define is refused at once.
	params, _ = webtest.CodeRequest(clientID, "openid comments:read")
	params["resource"] = []string{photos}
	if cb := s.Callback(t, b.Authorize(params)); cb.Get("error") != "invalid_scope" {
		t.Fatalf("comments:read for photos alone: callback = %v", cb)
	}
	params, _ = webtest.CodeRequest(clientID, "openid")
	params["resource"] = []string{"https://unknown.example/"}
	if cb := s.Callback(t, b.Authorize(params)); cb.Get("error") != "invalid_target" {
		t.Fatalf("an unknown resource: callback = %v", cb)
	}
}
