package web_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv/prereq"
	"github.com/oauth2d/oauth2d/internal/web"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The whole "login with" flow in real headless Chromium: the user opens
// the client's login link, signs in, allows, and lands on the client's
// callback, where the client exchanges the code with golang.org/x/oauth2
// (PKCE through VerifierOption), verifies the id_token with go-oidc and
// calls userinfo. It also proves the pages' CSP lets the login and
// consent forms end at the client (Chromium applies form-action to every
// redirect of a form submission) and that nothing on them breaks the CSP.
//
// Set OAUTH2D_UPDATE_SCREENSHOTS=1 to rewrite docs/login.png and
// docs/consent.png from this run.
func TestBrowserLoginWith(t *testing.T) {
	chromium := findChromium(t)
	app := newRelyingParty(t)
	// Branded as an operator would, with a scope of their own described in
	// the bootstrap file: the screenshots in docs/ show both.
	s := webtest.New(t, webtest.Options{RedirectURI: app.URL + "/callback",
		Branding:   web.Branding{ProductName: "Example ID", LogoURL: app.URL + "/logo.svg", AccentColor: "#1a7f37"},
		ScopeTexts: []account.ScopeText{{Name: "reports:read", Title: "Read your reports", Description: "See the monthly sales reports of your team."}},
	})
	allowScope(t, s, webtest.ThirdPartyID, "reports:read")
	app.configure(t, s)

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	ctx, stop := newBrowser(ctx, t, chromium)
	defer stop()
	violations := watchCSP(ctx)

	var loginShot, consentShot []byte
	steps := []struct {
		name string
		run  func() error
	}{
		{"open the client's login link", func() error {
			return chromedp.Do(ctx, chromedp.Navigate(app.URL+"/"), chromedp.Click(chromedp.ID("login-with")),
				chromedp.WaitVisible(chromedp.ID("username")))
		}},
		{"see the operator's logo", func() error {
			width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector("img.logo").naturalWidth`))
			if err != nil {
				return err
			}
			if width == 0 {
				return errors.New("the logo did not load")
			}
			return nil
		}},
		{"screenshot the login page", func() (err error) {
			loginShot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
		{"sign in", func() error {
			return chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("username"), "alice"),
				chromedp.SendKeys(chromedp.ID("password"), webtest.AlicePassword),
				chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("allow")))
		}},
		{"read the custom scope's description", func() error {
			text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("ul.scopes").innerText`))
			if err != nil {
				return err
			}
			if !strings.Contains(text, "Read your reports") || !strings.Contains(text, "See the monthly sales reports of your team.") {
				return fmt.Errorf("the consent page's scopes read %q", text)
			}
			return nil
		}},
		{"screenshot the consent page", func() (err error) {
			consentShot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
		{"allow", func() error {
			return chromedp.Do(ctx, chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
		}},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (browser at %s; client: %v; CSP violations: %q)", st.name, err, loc, app.failure(), violations())
		}
	}
	result, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("result")))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.failure(); err != nil {
		t.Fatalf("client: %v", err)
	}
	for _, want := range []string{"sub=" + s.Alice.ID, "preferred_username=alice", "email=alice@example.com", "refresh=yes"} {
		if !strings.Contains(result, want) {
			t.Errorf("callback page %q lacks %q", result, want)
		}
	}
	if v := violations(); len(v) > 0 {
		t.Errorf("content security policy violations: %q", v)
	}
	saveScreenshots(t, map[string][]byte{"login.png": loginShot, "consent.png": consentShot})
}

// allowScope lets clientID ask for scope too.
func allowScope(t *testing.T, s *webtest.Server, clientID, scope string) {
	t.Helper()
	c, err := s.Store.GetClient(t.Context(), clientID)
	if err != nil {
		t.Fatal(err)
	}
	c.Scopes = append(c.Scopes, scope)
	if err := s.Store.UpsertClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

// findChromium returns Debian's chromium. Without it the test is skipped,
// except under CI, where it must run.
func findChromium(t *testing.T) string {
	t.Helper()
	return prereq.LookPath(t, "apt-get install -y chromium", "chromium", "/usr/bin/chromium", "chromium-browser")
}

func newBrowser(parent context.Context, t *testing.T, execPath string) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(720, 640),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	return ctx, func() { cancelCtx(); cancelAlloc() }
}

// watchCSP collects the console messages in which Chromium reports a
// Content-Security-Policy violation.
func watchCSP(ctx context.Context) func() []string {
	var mu sync.Mutex
	var found []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				found = append(found, m.Text)
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), found...)
	}
}

func saveScreenshots(t *testing.T, shots map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("OAUTH2D_UPDATE_SCREENSHOTS") != "" {
		dir = filepath.Join("..", "..", "docs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, png := range shots {
		if len(png) < 1000 || string(png[1:4]) != "PNG" {
			t.Errorf("%s is not a PNG screenshot (%d bytes)", name, len(png))
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// relyingParty is a small web app that offers "log in with oauth2d".
type relyingParty struct {
	URL string
	srv *httptest.Server

	conf     *oauth2.Config
	provider *oidc.Provider
	issuer   string

	mu       sync.Mutex
	state    string
	nonce    string
	verifier string
	sid      string // of the last ID token
	err      error
}

func newRelyingParty(t *testing.T) *relyingParty {
	app := &relyingParty{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Demo app</title><a id="login-with" href="/login">Log in with oauth2d</a>`)
	})
	mux.HandleFunc("GET /logo.svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		fmt.Fprint(w, exampleLogo)
	})
	mux.HandleFunc("GET /login", app.login)
	mux.HandleFunc("GET /callback", app.callback)
	app.srv = httptest.NewServer(mux)
	t.Cleanup(app.srv.Close)
	app.URL = app.srv.URL
	return app
}

// exampleLogo is the operator's logo of the browser test, served by the
// relying party's server as a logo on another origin would be.
const exampleLogo = `<svg xmlns="http://www.w3.org/2000/svg" width="168" height="40" viewBox="0 0 168 40">` +
	`<rect x="0" y="4" width="32" height="32" rx="8" fill="#1a7f37"/>` +
	`<path d="M9 20l5 5 9-10" stroke="#fff" stroke-width="3.5" fill="none" stroke-linecap="round" stroke-linejoin="round"/>` +
	`<text x="42" y="28" font-family="system-ui, sans-serif" font-size="20" font-weight="700" fill="#1f2328">Example ID</text></svg>`

// configure makes the app the third-party client of the server.
func (a *relyingParty) configure(t *testing.T, s *webtest.Server) {
	a.configureAs(t, s, webtest.ThirdPartyID, webtest.ThirdPartySecret,
		oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess, "reports:read")
}

// configureAs reads the server's discovery document, as a real client
// does, and makes the app the client clientID.
func (a *relyingParty) configureAs(t *testing.T, s *webtest.Server, clientID, clientSecret string, scopes ...string) {
	provider, err := oidc.NewProvider(t.Context(), s.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	a.provider, a.issuer = provider, s.Issuer
	a.conf = &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret,
		Endpoint: provider.Endpoint(), RedirectURL: a.URL + "/callback", Scopes: scopes}
}

func (a *relyingParty) login(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.state, a.nonce, a.verifier = secret.NewToken(16), secret.NewToken(16), oauth2.GenerateVerifier()
	url := a.conf.AuthCodeURL(a.state, oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce))
	a.mu.Unlock()
	http.Redirect(w, r, url, http.StatusFound)
}

func (a *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	result, err := a.finish(r)
	a.mu.Lock()
	a.err = err
	a.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, `<!doctype html><title>Signed in</title><p id="result">%s</p>`, html.EscapeString(result))
}

// finish does what a relying party must with the callback (RFC 6749
// §4.1.2, RFC 9207 §2.4, OIDC Core §3.1.3.7).
func (a *relyingParty) finish(r *http.Request) (string, error) {
	a.mu.Lock()
	state, nonce, verifier := a.state, a.nonce, a.verifier
	a.mu.Unlock()
	q := r.URL.Query()
	if q.Get("state") != state || q.Get("iss") != a.issuer {
		return "", fmt.Errorf("callback state/iss mismatch: %v", q)
	}
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization failed: %s", e)
	}
	ctx := r.Context()
	tok, err := a.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return "", fmt.Errorf("exchange: %w", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := a.provider.Verifier(&oidc.Config{ClientID: a.conf.ClientID}).Verify(ctx, rawID)
	if err != nil {
		return "", fmt.Errorf("id_token: %w", err)
	}
	var session struct {
		Sid string   `json:"sid"`
		Acr string   `json:"acr"`
		Amr []string `json:"amr"`
	}
	if err := idt.Claims(&session); err != nil {
		return "", err
	}
	a.mu.Lock()
	a.sid = session.Sid
	a.mu.Unlock()
	if idt.Nonce != nonce {
		return "", fmt.Errorf("id_token nonce %q, want %q", idt.Nonce, nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		return "", fmt.Errorf("at_hash: %w", err)
	}
	info, err := a.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return "", fmt.Errorf("userinfo: %w", err)
	}
	var claims struct {
		PreferredUsername string `json:"preferred_username"`
	}
	if err := info.Claims(&claims); err != nil {
		return "", err
	}
	if info.Subject != idt.Subject {
		return "", fmt.Errorf("userinfo sub %q, id_token sub %q", info.Subject, idt.Subject)
	}
	refresh := "no"
	if tok.RefreshToken != "" {
		refresh = "yes"
	}
	return fmt.Sprintf("sub=%s preferred_username=%s email=%s refresh=%s acr=%s amr=%s", info.Subject, claims.PreferredUsername, info.Email, refresh,
		session.Acr, strings.Join(session.Amr, ",")), nil
}

func (a *relyingParty) sessionID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sid
}

func (a *relyingParty) failure() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// One person signs in to two apps in real Chromium, each app registered
// for back-channel logout with its own receiver, then signs out at
// oauth2d's /logout. Each receiver gets exactly one logout token for that
// session, verified against the JWKS, and the browser is signed out.
func TestBrowserSignOutReachesTwoApps(t *testing.T) {
	chromium := findChromium(t)
	s := webtest.New(t, webtest.Options{})
	apps := []*relyingParty{newRelyingParty(t), newRelyingParty(t)}
	receivers := make([]*relyingPartyEndpoint, len(apps))
	for i, app := range apps {
		id := fmt.Sprintf("browser-bcl-%d", i+1)
		receivers[i] = newRelyingPartyEndpoint(t, s, id)
		c := &storage.Client{ID: id, FirstParty: true, SecretHash: hashOf(t, id),
			GrantTypes: []string{"authorization_code"}, Scopes: webtest.AllScopes,
			RedirectURIs: []string{app.URL + "/callback"}, BackchannelLogoutURI: receivers[i].srv.URL + "/bcl"}
		if err := s.Store.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		app.configureAs(t, s, id, id+"-secret", oidc.ScopeOpenID, "profile", "email")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ctx, stop := newBrowser(ctx, t, chromium)
	defer stop()
	// The browser belongs to the context that first runs it, so start it
	// here rather than under a step's shorter one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	// step bounds each browser step; chromedp waits until the element shows.
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (browser at %s; apps: %v, %v)", name, err, loc, apps[0].failure(), apps[1].failure())
		}
	}

	step("sign in to the first app", chromedp.Navigate(apps[0].URL+"/"), chromedp.Click(chromedp.ID("login-with")),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "alice"), chromedp.SendKeys(chromedp.ID("password"), webtest.AlicePassword),
		chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("result")))
	// The session is already there: no login page the second time.
	step("sign in to the second app", chromedp.Navigate(apps[1].URL+"/"), chromedp.Click(chromedp.ID("login-with")),
		chromedp.WaitVisible(chromedp.ID("result")))
	sid := apps[0].sessionID()
	if sid == "" || apps[1].sessionID() != sid {
		t.Fatalf("the apps' ID tokens carry sids %q and %q, want one session's", sid, apps[1].sessionID())
	}

	step("sign out at oauth2d", chromedp.Navigate(s.URL+"/logout"), chromedp.Click(chromedp.ID("sign-out")),
		chromedp.WaitVisible(`//h1[text()="Signed out"]`))
	for _, rp := range receivers {
		wantLogout(t, rp.wait(t, 1), s.Alice.ID, sid)
	}
	step("find the account pages closed", chromedp.Navigate(s.URL+"/account/consents"),
		chromedp.WaitVisible(chromedp.ID("username")))
}
