package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

const linkedID = "linked-app"

// newLinkedServer is a webtest server with one more client, which has a
// home page (client_uri).
func newLinkedServer(t *testing.T) *webtest.Server {
	s := webtest.New(t, webtest.Options{})
	err := s.Store.CreateClient(context.Background(), &storage.Client{ID: linkedID, Name: "Linked <App>", Public: true,
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}, RedirectURIs: []string{s.RedirectURI},
		ClientURI: "https://linked.example/home?a=1&b=2"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const wantBackLink = `<a id="back-to-client" href="https://linked.example/home?a=1&amp;b=2" rel="noopener noreferrer">Back to Linked &lt;App&gt;</a>`

// The login page of a pending authorization request links back to the
// client's registered home page, escaped; a client without one gets no link.
func TestLoginPageLinksBackToClient(t *testing.T) {
	s := newLinkedServer(t)
	tests := []struct {
		name, clientID string
		wantLink       bool
	}{
		{"client with client_uri", linkedID, true},
		{"client without client_uri", webtest.PublicID, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params, _ := webtest.CodeRequest(tc.clientID, "openid")
			p := s.NewBrowser(t).Authorize(params)
			if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="password"`) {
				t.Fatalf("not a login page: %d %s", p.Status, p.Body)
			}
			if got := strings.Contains(p.Body, wantBackLink); got != tc.wantLink {
				t.Fatalf("back link shown = %v, want %v:\n%s", got, tc.wantLink, p.Body)
			}
			if !tc.wantLink && strings.Contains(p.Body, "back-to-client") {
				t.Fatalf("a link back without a client_uri:\n%s", p.Body)
			}
		})
	}
	t.Run("after a failed sign-in", func(t *testing.T) {
		params, _ := webtest.CodeRequest(linkedID, "openid")
		b := s.NewBrowser(t)
		p := b.SubmitLogin(b.Authorize(params), "alice", "wrong-password")
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, wantBackLink) {
			t.Fatalf("got %d without the back link:\n%s", p.Status, p.Body)
		}
	})
}

// The error page links back to the client when the page found it by id,
// and never otherwise.
func TestErrorPageLinksBackToKnownClient(t *testing.T) {
	s := newLinkedServer(t)
	params, _ := webtest.CodeRequest(linkedID, "openid")
	alice := s.NewBrowser(t)
	alicesConsent := alice.SubmitLogin(alice.Authorize(params), "alice", webtest.AlicePassword)
	bob := s.NewBrowser(t)
	bobsConsent := bob.SubmitLogin(bob.Authorize(params), "bob", webtest.BobPassword)
	if alicesConsent.Hidden("req") == "" || bobsConsent.Hidden("csrf_token") == "" {
		t.Fatalf("no consent pages: %s\n%s", alicesConsent.Body, bobsConsent.Body)
	}

	// Bob answers Alice's request: the client is known, the request is not his.
	p := bob.Post("/consent", url.Values{"decision": {"allow"}, "csrf_token": {bobsConsent.Hidden("csrf_token")},
		"req": {alicesConsent.Hidden("req")}})
	if p.Status != http.StatusForbidden || !strings.Contains(p.Body, wantBackLink) {
		t.Fatalf("got %d without the back link:\n%s", p.Status, p.Body)
	}

	// A known client with a redirect_uri it never registered: the page
	// links to the registered client_uri, never to the request's URL.
	p = s.NewBrowser(t).Get("/oauth2/authorize?response_type=code&client_id=" + linkedID +
		"&redirect_uri=" + url.QueryEscape("https://evil.example/cb"))
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, wantBackLink) || strings.Contains(p.Body, "evil.example") {
		t.Fatalf("got %d, want 400 with the registered back link only:\n%s", p.Status, p.Body)
	}

	// An unknown client: nothing to link to.
	p = s.NewBrowser(t).Get("/oauth2/authorize?response_type=code&client_id=nobody")
	if p.Status != http.StatusBadRequest || strings.Contains(p.Body, "back-to-client") {
		t.Fatalf("got %d, want 400 without a back link:\n%s", p.Status, p.Body)
	}
}
