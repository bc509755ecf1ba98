package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

func TestSignOut(t *testing.T) {
	s := webtest.New(t, webtest.Options{})

	t.Run("POST /logout with the CSRF token signs out", func(t *testing.T) {
		b := s.NewBrowser(t)
		acct := signIn(t, b, "alice", webtest.AlicePassword)
		old := sessionCookie(t, s, b)
		p := b.Post("/logout", url.Values{"csrf_token": {acct.Hidden("csrf_token")}})
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "You are signed out") || signedIn(t, b) {
			t.Fatalf("got %d, signed in %v", p.Status, signedIn(t, b))
		}
		replay := s.NewBrowser(t)
		u, _ := url.Parse(s.URL)
		replay.Client.Jar.SetCookies(u, []*http.Cookie{old})
		if signedIn(t, replay) {
			t.Fatal("the session survived on the server")
		}
	})
	t.Run("GET and token-less POST only ask", func(t *testing.T) {
		b := s.NewBrowser(t)
		signIn(t, b, "alice", webtest.AlicePassword)
		for _, p := range []*webtest.Page{b.Get("/logout"), b.Post("/logout", url.Values{}), b.Post("/oauth2/logout", url.Values{"csrf_token": {"forged"}})} {
			if p.Status != http.StatusOK || !strings.Contains(p.Body, "Sign out?") {
				t.Fatalf("got %d, want the confirmation page", p.Status)
			}
		}
		if !signedIn(t, b) {
			t.Fatal("signed out without the CSRF token")
		}
	})
}

// OIDC RP-Initiated Logout 1.0 at the end_session_endpoint.
func TestEndSession(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid")
	cb := s.Callback(t, b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword))
	idToken := s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret).Str("id_token")
	if idToken == "" {
		t.Fatal("no id token")
	}

	refused := []struct {
		name   string
		params url.Values
	}{
		{"unregistered post_logout_redirect_uri", url.Values{"client_id": {webtest.ThirdPartyID},
			"post_logout_redirect_uri": {"https://evil.example/bye"}}},
		{"redirect without a client", url.Values{"post_logout_redirect_uri": {webtest.DefaultPostLogout}}},
		{"unknown client", url.Values{"client_id": {"nobody"}, "post_logout_redirect_uri": {webtest.DefaultPostLogout}}},
		{"forged id_token_hint", url.Values{"id_token_hint": {idToken[:len(idToken)-6] + "AAAAAA"},
			"post_logout_redirect_uri": {webtest.DefaultPostLogout}}},
		{"hint for another client", url.Values{"id_token_hint": {idToken}, "client_id": {webtest.ThirdPartyID},
			"post_logout_redirect_uri": {webtest.DefaultPostLogout}}},
		{"redirect registered by another client", url.Values{"id_token_hint": {idToken},
			"post_logout_redirect_uri": {webtest.DefaultPostLogout}}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			p := b.Get("/oauth2/logout?" + tc.params.Encode())
			if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
				t.Fatalf("got %d Location=%q, want 400 and no redirect", p.Status, p.Header.Get("Location"))
			}
		})
	}

	t.Run("confirm, then back to the client with state", func(t *testing.T) {
		v := url.Values{"client_id": {webtest.ThirdPartyID}, "post_logout_redirect_uri": {webtest.DefaultPostLogout}, "state": {"bye-1"}}
		confirm := b.Get("/oauth2/logout?" + v.Encode())
		if confirm.Status != http.StatusOK || !strings.Contains(confirm.Body, "Third Party App") {
			t.Fatalf("got %d %s", confirm.Status, confirm.Body)
		}
		if csp := confirm.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://localhost:9000;") {
			t.Errorf("CSP = %q", csp)
		}
		form := url.Values{"csrf_token": {confirm.Hidden("csrf_token")}, "client_id": {confirm.Hidden("client_id")},
			"post_logout_redirect_uri": {confirm.Hidden("post_logout_redirect_uri")}, "state": {confirm.Hidden("state")}}
		p := b.Post("/oauth2/logout", form)
		if p.Status != http.StatusSeeOther || p.Location().String() != webtest.DefaultPostLogout+"?state=bye-1" {
			t.Fatalf("got %d %v", p.Status, p.Location())
		}
		if signedIn(t, b) {
			t.Fatal("still signed in")
		}
	})
	t.Run("signed out already: straight back", func(t *testing.T) {
		v := url.Values{"client_id": {webtest.ThirdPartyID}, "post_logout_redirect_uri": {webtest.DefaultPostLogout}}
		p := s.NewBrowser(t).Get("/oauth2/logout?" + v.Encode())
		if p.Status != http.StatusFound || p.Location().String() != webtest.DefaultPostLogout {
			t.Fatalf("got %d %v", p.Status, p.Location())
		}
	})
	t.Run("id_token_hint names the client", func(t *testing.T) {
		signIn(t, b, "alice", webtest.AlicePassword)
		confirm := b.Get("/oauth2/logout?" + url.Values{"id_token_hint": {idToken}}.Encode())
		if confirm.Status != http.StatusOK || !strings.Contains(confirm.Body, "First Party App") {
			t.Fatalf("got %d %s", confirm.Status, confirm.Body)
		}
	})
}

// lookAlikePostLogout are post_logout_redirect_uri values that resemble
// the registered DefaultPostLogout (http://localhost:9000/signed-out) but
// are not it; each would pass a prefix, host-suffix, case-insensitive or
// parsed-host match.
var lookAlikePostLogout = []struct{ name, uri string }{
	{"trailing slash", webtest.DefaultPostLogout + "/"},
	{"path traversal", webtest.DefaultPostLogout + "/../evil"},
	{"longer path", webtest.DefaultPostLogout + "evil"},
	{"extra query", webtest.DefaultPostLogout + "?next=evil"},
	{"case change", strings.ToUpper(webtest.DefaultPostLogout)},
	{"https instead of http", "https://localhost:9000/signed-out"},
	{"host suffix", "http://localhost:9000.evil.example/signed-out"},
	{"host prefix", "http://evil-localhost:9000/signed-out"},
	{"subdomain", "http://evil.localhost:9000/signed-out"},
	{"userinfo trick", "http://localhost:9000@evil.example/signed-out"},
	{"other port", "http://localhost:9001/signed-out"},
	{"percent-encoded path", "http://localhost:9000/%73igned-out"},
}

// TestEndSessionLookAlikeRedirectShowsAPage sends every look-alike
// post_logout_redirect_uri, with the client named by client_id or by an
// id_token_hint, in each state in which a valid one would send the browser
// back at once (signed out already; a POST with the CSRF token) or after a
// confirmation page. None may redirect: that would be an open redirect.
func TestEndSessionLookAlikeRedirectShowsAPage(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(webtest.ThirdPartyID, "openid")
	consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
	cb := s.Callback(t, b.SubmitConsent(consent, "allow"))
	idToken := s.Exchange(t, cb.Get("code"), verifier, webtest.ThirdPartyID, webtest.ThirdPartySecret).Str("id_token")
	if idToken == "" {
		t.Fatal("no id token")
	}
	csrf := b.Get("/account/consents").Hidden("csrf_token")
	if csrf == "" {
		t.Fatal("no CSRF token on the account page")
	}
	signedOut := s.NewBrowser(t)

	namedBy := []struct {
		name   string
		params url.Values
	}{
		{"client_id", url.Values{"client_id": {webtest.ThirdPartyID}}},
		{"id_token_hint", url.Values{"id_token_hint": {idToken}}},
	}
	send := []struct {
		name string
		do   func(v url.Values) *webtest.Page
	}{
		{"signed out, GET", func(v url.Values) *webtest.Page { return signedOut.Get("/oauth2/logout?" + v.Encode()) }},
		{"signed out, POST", func(v url.Values) *webtest.Page { return signedOut.Post("/oauth2/logout", v) }},
		{"signed in, GET", func(v url.Values) *webtest.Page { return b.Get("/oauth2/logout?" + v.Encode()) }},
		{"signed in, POST with a forged CSRF token", func(v url.Values) *webtest.Page {
			v.Set("csrf_token", "forged")
			return b.Post("/oauth2/logout", v)
		}},
		{"signed in, POST with the CSRF token", func(v url.Values) *webtest.Page {
			v.Set("csrf_token", csrf)
			return b.Post("/oauth2/logout", v)
		}},
	}
	for _, redirect := range lookAlikePostLogout {
		for _, by := range namedBy {
			for _, tc := range send {
				t.Run(redirect.name+"/"+by.name+"/"+tc.name, func(t *testing.T) {
					v := url.Values{"post_logout_redirect_uri": {redirect.uri}, "state": {"bye-1"}}
					for name, vals := range by.params {
						v[name] = vals
					}
					p := tc.do(v)
					if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
						t.Fatalf("got %d Location=%q, want 400 and no redirect", p.Status, p.Header.Get("Location"))
					}
					if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
						t.Errorf("Content-Type = %q, want the HTML error page", p.Header.Get("Content-Type"))
					}
					if strings.Contains(p.Body, "evil") || strings.Contains(p.Header.Get("Content-Security-Policy"), "evil") {
						t.Error("the error page repeats the untrusted address")
					}
				})
			}
		}
	}
	if !signedIn(t, b) {
		t.Error("a refused sign-out request signed the user out")
	}
}

// logoutForm is what pressing Sign out on the confirmation page p sends.
func logoutForm(p *webtest.Page) url.Values {
	f := url.Values{}
	for _, name := range []string{"csrf_token", "client_id", "id_token_hint", "post_logout_redirect_uri", "state"} {
		if v := p.Hidden(name); v != "" {
			f.Set(name, v)
		}
	}
	return f
}

// isLogoutConfirmation: p is the sign-out page, asking, with a token.
func isLogoutConfirmation(p *webtest.Page, status int) bool {
	return p.Status == status && strings.Contains(p.Body, "<h1>Sign out?</h1>") && p.Hidden("csrf_token") != "" &&
		p.Header.Get("Location") == ""
}

// RP-initiated logout without the cookie of the session the id_token_hint
// names (OIDC RP-Initiated Logout 1.0 §2, §6). A cross-site <img> or form
// never carries the SameSite=Lax session cookie, and any relying party's
// ID token for the user, however old, is a valid hint: so the hint alone
// only asks, and the session ends, wherever its cookie is, and its apps
// are told, only when the page's own form is posted back with its token
// and the cookie the page set. The session is made on instance A and ended
// through instance B.
func TestEndSessionWithoutTheSessionCookie(t *testing.T) {
	w := newBCLWorld(t)
	alice := w.a.Alice.ID
	endSession := w.b.URL + "/oauth2/logout"
	hinted := func(raw string) string { return endSession + "?" + url.Values{"id_token_hint": {raw}}.Encode() }

	t.Run("the hint alone only asks", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		_, raw := w.signInTo(t, b, w.appID)
		for name, p := range map[string]*webtest.Page{
			"GET (an <img>, a link, a server)": w.b.NewBrowser(t).Get(hinted(raw)),
			"POST (an RP's form)":              w.b.NewBrowser(t).Post(endSession, url.Values{"id_token_hint": {raw}}),
		} {
			if !isLogoutConfirmation(p, http.StatusOK) || !strings.Contains(p.Body, "<strong>"+w.appID+"</strong> asks you to sign out") {
				t.Fatalf("%s: got %d %s, want the confirmation naming the app", name, p.Status, p.Body)
			}
			if strings.Contains(p.Body, " of <strong>") {
				t.Errorf("%s: the page names the user to whoever holds the hint", name)
			}
		}
		if !signedIn(t, b) {
			t.Fatal("the hint alone ended the session")
		}
		w.app.wait(t, 0)
	})

	t.Run("a token that does not hold is refused", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		_, raw := w.signInTo(t, b, w.appID)
		_, otherRaw := w.signInTo(t, w.a.NewBrowser(t), w.appID) // another session of alice
		forger := w.b.NewBrowser(t)
		page := forger.Get(hinted(raw))
		otherPage := forger.Get(hinted(otherRaw))
		ownCookie := w.b.NewBrowser(t)
		ownCookie.Get(w.b.URL + "/login") // a login form cookie of its own
		for name, send := range map[string]func() *webtest.Page{
			"a forged token": func() *webtest.Page {
				return forger.Post(endSession, url.Values{"id_token_hint": {raw}, "csrf_token": {"forged"}})
			},
			"an empty token": func() *webtest.Page {
				return forger.Post(endSession, url.Values{"id_token_hint": {raw}, "csrf_token": {""}})
			},
			"the token of another session's page": func() *webtest.Page {
				return forger.Post(endSession, url.Values{"id_token_hint": {raw}, "csrf_token": {otherPage.Hidden("csrf_token")}})
			},
			"the page's token without the page's cookie": func() *webtest.Page {
				return w.b.NewBrowser(t).Post(endSession, logoutForm(page))
			},
			"the page's token with another browser's cookie": func() *webtest.Page {
				return ownCookie.Post(endSession, logoutForm(page))
			},
		} {
			if p := send(); !isLogoutConfirmation(p, http.StatusForbidden) || !strings.Contains(p.Body, "nothing was signed out") {
				t.Fatalf("%s: got %d %s, want 403 and the page again", name, p.Status, p.Body)
			}
		}
		if !signedIn(t, b) {
			t.Fatal("a refused confirmation ended the session")
		}
		w.app.wait(t, 0)
	})

	t.Run("confirmed: the session ends and its apps are told", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		idt, raw := w.signInTo(t, b, w.appID)
		m := w.b.NewBrowser(t)
		p := m.Post(endSession, logoutForm(m.Get(hinted(raw))))
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "You are signed out") {
			t.Fatalf("got %d %s", p.Status, p.Body)
		}
		if signedIn(t, b) {
			t.Fatal("the session survived the confirmation")
		}
		wantLogout(t, w.app.wait(t, 1), alice, idt["sid"].(string))

		// The session has ended: asked again, nothing ends, and the page
		// says so.
		p = m.Post(endSession, logoutForm(m.Get(hinted(raw))))
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "nothing was signed out") {
			t.Fatalf("the same hint again: %d %s", p.Status, p.Body)
		}
		w.app.wait(t, 0)
	})

	t.Run("confirmed with a redirect: back to the app with state", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		_, raw := w.signInTo(t, b, w.appID)
		m := w.b.NewBrowser(t)
		confirm := m.Get(endSession + "?" + url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {w.a.PostLogout},
			"state": {"s1"}}.Encode())
		if !isLogoutConfirmation(confirm, http.StatusOK) || !signedIn(t, b) {
			t.Fatalf("got %d, signed in %v", confirm.Status, signedIn(t, b))
		}
		p := m.Post(endSession, logoutForm(confirm))
		if p.Status != http.StatusSeeOther || p.Location().String() != w.a.PostLogout+"?state=s1" || signedIn(t, b) {
			t.Fatalf("got %d %v", p.Status, p.Location())
		}
		w.app.wait(t, 1)
	})

	t.Run("no hint that names a session: nothing to end", func(t *testing.T) {
		for name, q := range map[string]url.Values{"no hint": {}, "client_id only": {"client_id": {w.appID}}} {
			p := w.b.NewBrowser(t).Get(endSession + "?" + q.Encode())
			if p.Status != http.StatusOK || !strings.Contains(p.Body, "nothing was signed out") {
				t.Fatalf("%s: %d %s", name, p.Status, p.Body)
			}
		}
	})

	t.Run("the session's own cookie: its CSRF token ends it at once", func(t *testing.T) {
		b := w.a.NewBrowser(t)
		idt, raw := w.signInTo(t, b, w.appID)
		csrf := b.Get("/account/consents").Hidden("csrf_token")
		p := b.Post("/oauth2/logout", url.Values{"id_token_hint": {raw}, "csrf_token": {csrf}})
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "You are signed out") || signedIn(t, b) {
			t.Fatalf("got %d %s", p.Status, p.Body)
		}
		wantLogout(t, w.app.wait(t, 1), alice, idt["sid"].(string))
	})

	t.Run("another session's cookie: asks, then ends both", func(t *testing.T) {
		hintedBrowser := w.a.NewBrowser(t)
		idtA, rawA := w.signInTo(t, hintedBrowser, w.appID)
		b := w.a.NewBrowser(t)
		idtB, _ := w.signInTo(t, b, w.appID)
		confirm := b.Get("/oauth2/logout?" + url.Values{"id_token_hint": {rawA}}.Encode())
		if !isLogoutConfirmation(confirm, http.StatusOK) || !signedIn(t, hintedBrowser) || !signedIn(t, b) {
			t.Fatalf("got %d %s", confirm.Status, confirm.Body)
		}
		w.app.wait(t, 0)
		p := b.Post("/oauth2/logout", logoutForm(confirm))
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "You are signed out") {
			t.Fatalf("got %d %s", p.Status, p.Body)
		}
		if signedIn(t, b) || signedIn(t, hintedBrowser) {
			t.Fatalf("signed in: this browser %v, the hinted session %v", signedIn(t, b), signedIn(t, hintedBrowser))
		}
		wantLogout(t, w.app.wait(t, 2), alice, idtA["sid"].(string), idtB["sid"].(string))
	})

	t.Run("another person's hint: only this browser's session ends", func(t *testing.T) {
		hintedBrowser := w.a.NewBrowser(t)
		_, rawAlice := w.signInTo(t, hintedBrowser, w.appID)
		b := w.a.NewBrowser(t)
		params, verifier := webtest.CodeRequest(w.appID, "openid profile")
		idtBob, _ := w.authorize(t, b, w.appID, params, verifier, "bob", webtest.BobPassword)
		w.app.wait(t, 0)
		confirm := b.Get("/oauth2/logout?" + url.Values{"id_token_hint": {rawAlice}}.Encode())
		p := b.Post("/oauth2/logout", logoutForm(confirm))
		if p.Status != http.StatusOK || !strings.Contains(p.Body, "You are signed out") || signedIn(t, b) {
			t.Fatalf("got %d %s", p.Status, p.Body)
		}
		if !signedIn(t, hintedBrowser) {
			t.Fatal("bob's sign-out ended alice's session, which the page did not name")
		}
		wantLogout(t, w.app.wait(t, 1), w.a.Bob.ID, idtBob["sid"].(string))
	})
}
