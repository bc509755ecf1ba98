package web_test

import (
	"encoding/base64"
	"errors"
	"time"

	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web"
	"github.com/oauth2d/oauth2d/templates"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// passkeyWorld is a server on localhost (passkeys need a domain) with
// alice's passkey registered on her security page by a software
// authenticator.
type passkeyWorld struct {
	s    *webtest.Server
	a    *webtest.Authenticator
	logs *logBuffer
}

func newPasskeyWorld(t *testing.T) *passkeyWorld {
	t.Helper()
	logs := &logBuffer{}
	s := webtest.New(t, webtest.Options{Localhost: true, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	w := &passkeyWorld{s: s, a: webtest.NewAuthenticator(s.Issuer), logs: logs}
	b := s.NewBrowser(t)
	signIn(t, b, "alice", webtest.AlicePassword)
	p := b.AddPasskey(w.a, "Laptop")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Your passkey was added.") || !strings.Contains(p.Body, `value="Laptop"`) {
		t.Fatalf("add passkey: %d %s", p.Status, p.Body)
	}
	return w
}

// stored returns alice's one passkey as stored.
func (w *passkeyWorld) stored(t *testing.T) *storage.Passkey {
	t.Helper()
	keys, err := w.s.Store.ListPasskeys(t.Context(), w.s.Alice.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("alice's passkeys: %v, %v", keys, err)
	}
	return keys[0]
}

// loginPage opens the login page in a fresh browser.
func (w *passkeyWorld) loginPage(t *testing.T) (*webtest.Browser, *webtest.Page) {
	t.Helper()
	b := w.s.NewBrowser(t)
	p := b.Get("/login")
	if p.PasskeyOptions() == "" || p.Hidden("state") == "" {
		t.Fatalf("the login page offers no passkey: %s", p.Body)
	}
	return b, p
}

// A passkey alone signs alice in, records how (RFC 8176 amr), and
// continues an authorization request to the client as a password does;
// the page's CSP admits the passkey script and nothing inline.
func TestPasskeySignIn(t *testing.T) {
	w := newPasskeyWorld(t)
	s := w.s
	b, login := w.loginPage(t)
	csp := login.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("login page CSP %q", csp)
	}
	if !strings.Contains(login.Body, `autocomplete="username webauthn"`) {
		t.Error("the username field does not offer passkeys in its autofill (conditional mediation)")
	}
	p := b.SignInWithPasskey(login, w.a)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "connected applications") {
		t.Fatalf("passkey sign-in: %d %s", p.Status, p.Body)
	}
	cookie := sessionCookie(t, s, b)
	bs, err := s.Store.GetSession(t.Context(), secret.SHA256(cookie.Value))
	if err != nil || bs.UserID != s.Alice.ID || strings.Join(bs.AMR, " ") != "hwk user mfa" {
		t.Fatalf("session = %+v, %v; want alice's with amr hwk user mfa", bs, err)
	}
	if k := w.stored(t); k.SignCount != 1 || k.LastUsedAt.IsZero() {
		t.Fatalf("the passkey's counter and last use were not stored: %+v", k)
	}

	// The code flow: sign in with the passkey on the login page of an
	// authorization request, allow, redeem the code.
	b2 := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
	login = b2.Authorize(params)
	if login.Hidden("req") == "" {
		t.Fatalf("no pending request on the login page: %s", login.Body)
	}
	consent := b2.SignInWithPasskey(login, w.a)
	q := s.Callback(t, b2.SubmitConsent(consent, "allow"))
	tok := s.Exchange(t, q.Get("code"), verifier, webtest.ThirdPartyID, webtest.ThirdPartySecret)
	if tok.Str("access_token") == "" || tok.Str("id_token") == "" {
		t.Fatalf("token response %+v", tok)
	}
	if !s.Active(t, tok.Str("access_token")) {
		t.Fatal("the access token is not active")
	}
}

// Each refusal shows the login page again with its reason, signs nobody
// in, and leaves the passkey as it was, and no used-challenge record.
func TestPasskeyRefusals(t *testing.T) {
	w := newPasskeyWorld(t)
	s := w.s
	// One good sign-in with a counter of zero, as synced passkeys send: the
	// counter cannot tell its replay, only the used challenge can. A copy
	// of the browser replays its form below.
	b, login := w.loginPage(t)
	replayer := cloneBrowser(t, s, b)
	good, err := w.a.GetWith(login.PasskeyOptions(), func(a *webtest.Assertion) { a.Counter = 0 })
	if err != nil {
		t.Fatal(err)
	}
	if p := b.SubmitPasskey(login, good); p.Status != http.StatusSeeOther {
		t.Fatalf("first use: %d %s", p.Status, p.Body)
	}
	_, other := w.loginPage(t)

	cases := []struct {
		name   string
		answer func(t *testing.T) (*webtest.Browser, *webtest.Page, string)
		want   string
	}{
		{"assertion replayed", func(t *testing.T) (*webtest.Browser, *webtest.Page, string) {
			return replayer, login, good
		}, "already used"},
		{"assertion for another RP ID", func(t *testing.T) (*webtest.Browser, *webtest.Page, string) {
			b, p := w.loginPage(t)
			cred, err := w.a.GetWith(p.PasskeyOptions(), func(a *webtest.Assertion) { a.RPID = "evil.example" })
			if err != nil {
				t.Fatal(err)
			}
			return b, p, cred
		}, "could not be verified"},
		{"counter going backwards", func(t *testing.T) (*webtest.Browser, *webtest.Page, string) {
			// A sign-in that sets the counter to 5, then an answer with 5.
			ok, p := w.loginPage(t)
			cred, err := w.a.GetWith(p.PasskeyOptions(), func(a *webtest.Assertion) { a.Counter = 5 })
			if err != nil {
				t.Fatal(err)
			}
			if res := ok.SubmitPasskey(p, cred); res.Status != http.StatusSeeOther {
				t.Fatalf("sign-in with counter 5: %d %s", res.Status, res.Body)
			}
			b, p := w.loginPage(t)
			cred, err = w.a.GetWith(p.PasskeyOptions(), func(a *webtest.Assertion) { a.Counter = 5 })
			if err != nil {
				t.Fatal(err)
			}
			return b, p, cred
		}, "signature counter went backwards"},
		{"challenge from another ceremony", func(t *testing.T) (*webtest.Browser, *webtest.Page, string) {
			b, p := w.loginPage(t)
			cred, err := w.a.Get(other.PasskeyOptions()) // signed for another page's challenge
			if err != nil {
				t.Fatal(err)
			}
			return b, p, cred
		}, "could not be verified"},
		{"ceremony of another form", func(t *testing.T) (*webtest.Browser, *webtest.Page, string) {
			b, p := w.loginPage(t)
			cred, err := w.a.Get(other.PasskeyOptions())
			if err != nil {
				t.Fatal(err)
			}
			p.Body = strings.Replace(p.Body, p.Hidden("state"), other.Hidden("state"), 1) // bound to other's CSRF token
			return b, p, cred
		}, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, page, cred := tc.answer(t)
			before, usedBefore := w.stored(t), usedChallenges(t, s)
			p := b.SubmitPasskey(page, cred)
			if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, tc.want) || !strings.Contains(p.Body, `id="login-error"`) {
				t.Fatalf("answer %d, want 400 with %q: %s", p.Status, tc.want, p.Body)
			}
			if sessionCookie(t, s, b) != nil {
				t.Fatal("a refused passkey signed the browser in")
			}
			if after := w.stored(t); after.SignCount != before.SignCount || !after.LastUsedAt.Equal(before.LastUsedAt) {
				t.Fatalf("a refused passkey changed its record: %+v, was %+v", after, before)
			}
			if used := usedChallenges(t, s); used != usedBefore {
				t.Fatalf("a refusal stored a used challenge: %d, was %d", used, usedBefore)
			}
		})
	}
	trail := &auditTrail{t: t, s: s, logs: w.logs}
	trail.want(map[string]string{"event": audit.PasskeyCounter, "outcome": audit.Failure, "subject": s.Alice.ID})
}

// usedChallenges counts the used-challenge records (a test may scan).
func usedChallenges(t *testing.T, s *webtest.Server) int {
	t.Helper()
	return len(keysMatching(t, s, s.Store.Prefix()+"webauthn-used:*"))
}

// cloneBrowser returns a browser holding b's cookies for the server.
func cloneBrowser(t *testing.T, s *webtest.Server, b *webtest.Browser) *webtest.Browser {
	t.Helper()
	c := s.NewBrowser(t)
	u, _ := url.Parse(s.URL)
	c.Client.Jar.SetCookies(u, b.Client.Jar.Cookies(u))
	return c
}

// The security page renames and removes passkeys behind its CSRF token; a
// removed passkey, or one whose user is deleted, signs nobody in.
func TestPasskeyAccountChanges(t *testing.T) {
	w := newPasskeyWorld(t)
	s := w.s
	// Her password alone no longer signs her in (her passkey is a second
	// factor): the passkey does.
	b := s.NewBrowser(t)
	b.SignInWithPasskey(b.Get("/login"), w.a)
	page := b.Get("/account/security")
	id := base64.RawURLEncoding.EncodeToString(w.stored(t).ID)
	form := url.Values{"id": {id}, "name": {"Phone"}}
	if p := b.Post("/account/passkeys/rename", form); p.Status != http.StatusForbidden {
		t.Fatalf("rename without the CSRF token: %d", p.Status)
	}
	form.Set("csrf_token", page.Hidden("csrf_token"))
	if p := b.Follow(b.Post("/account/passkeys/rename", form)); !strings.Contains(p.Body, "Your passkey was renamed.") || w.stored(t).Name != "Phone" {
		t.Fatalf("rename: %d, name %q", p.Status, w.stored(t).Name)
	}
	// Bob cannot touch alice's passkey.
	bob := s.NewBrowser(t)
	signIn(t, bob, "bob", webtest.BobPassword)
	bobPage := bob.Get("/account/security")
	if p := bob.Post("/account/passkeys/remove", url.Values{"id": {id}, "csrf_token": {bobPage.Hidden("csrf_token")}}); p.Status != http.StatusBadRequest {
		t.Fatalf("bob removes alice's passkey: %d", p.Status)
	}
	w.stored(t)

	if p := b.Follow(b.Post("/account/passkeys/remove", url.Values{"id": {id}, "csrf_token": {page.Hidden("csrf_token")}})); !strings.Contains(p.Body, "Your passkey was removed.") {
		t.Fatalf("remove: %d %s", p.Status, p.Body)
	}
	lb, login2 := w.loginPage(t)
	cred, err := w.a.Get(login2.PasskeyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if p := lb.SubmitPasskey(login2, cred); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "not registered here") {
		t.Fatalf("a removed passkey: %d %s", p.Status, p.Body)
	}

	// Registered again, then the user deleted: the passkey goes with her.
	b.AddPasskey(w.a, "Again")
	if err := s.Store.DeleteUser(t.Context(), s.Alice.ID); err != nil {
		t.Fatal(err)
	}
	lb, login3 := w.loginPage(t)
	cred, err = w.a.Get(login3.PasskeyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if p := lb.SubmitPasskey(login3, cred); p.Status != http.StatusBadRequest || sessionCookie(t, s, lb) != nil {
		t.Fatalf("a deleted user's passkey: %d %s", p.Status, p.Body)
	}
}

// The second-factor API: an assertion by one of a known user's passkeys
// (listed as allowed) proves the passkey's amr, once, for that user and
// that form only; a user without passkeys has none to offer.
func TestPasskeyVerificationOfKnownUser(t *testing.T) {
	w := newPasskeyWorld(t)
	s := w.s
	h := pagesOver(t, s)
	ctx := t.Context()
	if ok, err := h.HasPasskeys(ctx, s.Alice.ID); err != nil || !ok {
		t.Fatalf("HasPasskeys(alice) = %v, %v", ok, err)
	}
	if ok, err := h.HasPasskeys(ctx, s.Bob.ID); err != nil || ok {
		t.Fatalf("HasPasskeys(bob) = %v, %v", ok, err)
	}
	if _, _, err := h.BeginPasskeyVerification(ctx, s.Bob.ID, "form"); !errors.Is(err, web.ErrNoPasskeys) {
		t.Fatalf("bob's verification: %v, want ErrNoPasskeys", err)
	}
	options, state, err := h.BeginPasskeyVerification(ctx, s.Alice.ID, "form")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(options, base64.RawURLEncoding.EncodeToString(w.stored(t).ID)) {
		t.Fatalf("options do not allow alice's passkey: %s", options)
	}
	// A counter of zero, as synced passkeys send: only the used challenge
	// tells the replay below.
	cred, err := w.a.GetWith(options, func(a *webtest.Assertion) { a.Counter = 0 })
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []struct{ user, form string }{{s.Bob.ID, "form"}, {s.Alice.ID, "another form"}} {
		if _, err := h.FinishPasskeyVerification(ctx, wrong.user, wrong.form, state, cred); err == nil {
			t.Fatalf("verification accepted for user %s, form %q", wrong.user, wrong.form)
		} else if _, refusal := web.PasskeyRefusal(err); !refusal {
			t.Fatalf("a wrong user or form is a server failure: %v", err)
		}
	}
	amr, err := h.FinishPasskeyVerification(ctx, s.Alice.ID, "form", state, cred)
	if err != nil || strings.Join(amr, " ") != "hwk user mfa" {
		t.Fatalf("verification = %v, %v", amr, err)
	}
	_, err = h.FinishPasskeyVerification(ctx, s.Alice.ID, "form", state, cred)
	if msg, refusal := web.PasskeyRefusal(err); !refusal || !strings.Contains(msg, "already used") {
		t.Fatalf("replayed verification: %v (%q)", err, msg)
	}
}

// pagesOver builds a second set of pages over s's store, for the API the
// route table does not serve.
func pagesOver(t *testing.T, s *webtest.Server) *web.Handler {
	t.Helper()
	keys, err := token.NewKeySet(token.AlgES256, token.AlgRS256)
	if err != nil {
		t.Fatal(err)
	}
	revoker, err := account.NewRevoker(s.Store, nil, time.Hour, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	checker, err := secret.NewChecker(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	box := secret.NewRandomBox()
	pending, err := oauth.NewPendingRequests(s.Store, box, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := web.New(web.Deps{Config: web.Config{Issuer: s.Issuer, ResumePath: oauth.AuthorizeResumePath}, Store: s.Store,
		Clients: s.Store, Users: s.Store, Pending: pending, Box: box, Limiter: ratelimit.New(s.Store.Redis(), s.Store.Prefix(), ratelimit.Limits{PerUsername: 5, PerIP: 5}),
		Revoker: revoker, Checker: checker, Keys: keys, Templates: templates.FS})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Anonymous passkey traffic stores nothing: login pages with their
// sealed ceremonies, and answers by a passkey nobody registered, leave
// the keys under the prefix as they were (but for the audit stream,
// capped by length, which records failed sign-ins as it does for
// passwords).
func TestAnonymousPasskeyTrafficStoresNothing(t *testing.T) {
	s := webtest.New(t, webtest.Options{Localhost: true})
	stranger := webtest.NewAuthenticator(s.Issuer)
	if _, err := stranger.Create(`{"publicKey":{"challenge":"AAAA","user":{"id":"c3RyYW5nZXI"}}}`); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		keys := keysMatching(t, s, s.Store.Prefix()+"*")
		return len(slices.DeleteFunc(keys, func(k string) bool { return k == s.Store.Prefix()+"audit" }))
	}
	before := count()
	for range 200 {
		b := s.NewBrowser(t)
		p := b.Get("/login")
		cred, err := stranger.Get(p.PasskeyOptions())
		if err != nil {
			t.Fatal(err)
		}
		if res := b.SubmitPasskey(p, cred); res.Status != http.StatusBadRequest {
			t.Fatalf("a stranger's passkey: %d", res.Status)
		}
	}
	if after := count(); after != before {
		t.Fatalf("anonymous passkey traffic left %d keys, there were %d", after, before)
	}
}
