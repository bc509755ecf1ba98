package main

import (
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"pgregory.net/rapid"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// modelAuthenticators holds each model user's software passkey
// authenticator, once the user has registered one (*modelUser →
// *webtest.Authenticator).
var modelAuthenticators sync.Map

var modelPasskeyOptions = regexp.MustCompile(`data-options="([^"]*)"`)

func (p *page) passkeyOptions() string {
	m := modelPasskeyOptions.FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// passkeySignIn: a user signs in with a passkey alone, in a browser of
// their own that later code flows use (browserOf), registering the
// passkey on the security page first if they have none. A deleted user's
// passkey signs nobody in.
func (m *model) passkeySignIn(t *rapid.T) {
	u := m.pickUser(t)
	a, registered := modelAuthenticators.Load(u)
	if !registered {
		if u.deleted {
			return
		}
		a = m.registerPasskey(t, u)
	}
	jar, _ := cookiejar.New(nil)
	b := &browser{m: m, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	login := b.get("/login")
	cred, err := a.(*webtest.Authenticator).Get(login.passkeyOptions())
	if err != nil {
		t.Fatalf("passkey on the login page: %v (%d %.300s)", err, login.status, login.body)
	}
	p := b.post("/login/passkey", url.Values{"csrf_token": {login.hidden("csrf_token")}, "state": {login.hidden("state")}, "credential": {cred}})
	if u.deleted {
		if p.status != http.StatusBadRequest || b.get("/account/consents").status == http.StatusOK {
			t.Fatalf("INVARIANT: a deleted user's passkey signed in: %d", p.status)
		}
		return
	}
	p = b.follow(p)
	if p.status != http.StatusOK || !strings.Contains(p.body, "<strong>"+u.username+"</strong>") {
		t.Fatalf("passkey sign-in of %s: %d %.300s", u.key, p.status, p.body)
	}
	// The software authenticator is device-bound and verifies its user
	// (passkeyAMR in internal/web): what later tokens may say.
	u.browser, u.sessionAMR = b, []string{"hwk", "user", "mfa"}
}

// registerPasskey registers a new software passkey for u on the security
// page, signing u's browser in with the password when it is not.
func (m *model) registerPasskey(t *rapid.T, u *modelUser) *webtest.Authenticator {
	b := m.browserOf(u)
	p := b.get("/account/security")
	if p.status != http.StatusOK {
		login := b.follow(p)
		m.afterPassword(t, u, b, b.follow(b.post("/login", url.Values{"username": {u.username}, "password": {"model-password"}, "csrf_token": {login.hidden("csrf_token")}})))
		p = b.get("/account/security")
	}
	a := webtest.NewAuthenticator(m.srv.Issuer)
	cred, err := a.Create(p.passkeyOptions())
	if err != nil {
		t.Fatalf("passkey options of %s's security page: %v (%d %.300s)", u.key, err, p.status, p.body)
	}
	res := b.follow(b.post("/account/passkeys/add", url.Values{"csrf_token": {p.hidden("csrf_token")}, "state": {p.hidden("state")},
		"credential": {cred}, "name": {"model"}}))
	if !strings.Contains(res.body, "Your passkey was added.") {
		t.Fatalf("registering %s's passkey: %d %.300s", u.key, res.status, res.body)
	}
	modelAuthenticators.Store(u, a)
	return a
}
