package web_test

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
	"github.com/oauth2d/oauth2d/templates"
)

func TestMain(m *testing.M) { testredis.Main(m) }

func signIn(t testing.TB, b *webtest.Browser, user, pass string) *webtest.Page {
	t.Helper()
	p := b.SubmitLogin(b.Get("/login"), user, pass)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "connected applications") {
		t.Fatalf("sign in: %d %s", p.Status, p.Body)
	}
	return p
}

func sessionCookie(t *testing.T, s *webtest.Server, b *webtest.Browser) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(s.URL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == web.DevCookieName {
			return c
		}
	}
	return nil
}

func signedIn(t *testing.T, b *webtest.Browser) bool {
	t.Helper()
	p := b.Get("/account/consents")
	return p.Status == http.StatusOK
}

func TestPageSecurityHeaders(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
	login := b.Authorize(params)
	consent := b.SubmitLogin(login, "alice", webtest.AlicePassword)
	pages := map[string]*webtest.Page{
		"login":        login,
		"consent":      consent,
		"error":        b.Get("/oauth2/authorize?client_id=nobody"),
		"account":      b.Get("/account/consents"),
		"logout":       b.Get("/logout"),
		"plain login":  s.NewBrowser(t).Get("/login"),
		"login failed": s.NewBrowser(t).SubmitLogin(s.NewBrowser(t).Get("/login"), "alice", "wrong"),
	}
	for name, p := range pages {
		t.Run(name, func(t *testing.T) {
			h := p.Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'self'", "base-uri 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
				t.Errorf("CSP allows scripts or inline code: %q", csp)
			}
			for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
				"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
				if h.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, h.Get(k), want)
				}
			}
			for _, banned := range []string{"<script", "style=", "<style", "javascript:"} {
				if strings.Contains(p.Body, banned) {
					t.Errorf("page holds %q", banned)
				}
			}
			if strings.Count(p.Body, "<input") > 0 && strings.Count(p.Body, "<form") == 0 {
				t.Error("inputs outside a form cannot be submitted without JavaScript")
			}
		})
	}
	t.Run("login and consent may post on to the client", func(t *testing.T) {
		for _, p := range []*webtest.Page{login, consent} {
			if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://localhost:9000;") {
				t.Errorf("CSP = %q, want the redirect URI's origin in form-action", csp)
			}
		}
	})
	t.Run("inputs have labels", func(t *testing.T) {
		for _, id := range []string{"username", "password"} {
			if !strings.Contains(login.Body, `<label for="`+id+`">`) || !strings.Contains(login.Body, `id="`+id+`"`) {
				t.Errorf("no label for %s", id)
			}
		}
	})
	t.Run("stylesheet", func(t *testing.T) {
		p := b.Get("/static/oauth2d.css")
		if p.Status != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/css") || len(p.Body) < 100 {
			t.Fatalf("got %d %q", p.Status, p.Header.Get("Content-Type"))
		}
	})
}

func TestSessionCookieAndRotation(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	u, _ := url.Parse(s.URL)
	// A session id planted before the login (session fixation).
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: web.DevCookieName, Value: "planted-by-an-attacker", Path: "/"}})
	form := b.Get("/login")
	setCookie := form.Header.Get("Set-Cookie")
	for _, want := range []string{web.DevLoginCookieName + "=", "Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Errorf("Secure cookie on an http issuer: %q", setCookie)
	}
	b.SubmitLogin(form, "alice", webtest.AlicePassword)
	after := sessionCookie(t, s, b)
	if after == nil || after.Value == "planted-by-an-attacker" {
		t.Fatal("the session id was not replaced at login")
	}
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == web.DevLoginCookieName {
			t.Error("the login form cookie outlived the login")
		}
	}

	t.Run("the planted id is worthless", func(t *testing.T) {
		fixed := s.NewBrowser(t)
		fixed.Client.Jar.SetCookies(u, []*http.Cookie{{Name: web.DevCookieName, Value: "planted-by-an-attacker", Path: "/"}})
		if signedIn(t, fixed) {
			t.Fatal("the cookie planted before the login is signed in")
		}
	})
	t.Run("the new id works in another jar", func(t *testing.T) {
		stolen := s.NewBrowser(t)
		stolen.Client.Jar.SetCookies(u, []*http.Cookie{{Name: web.DevCookieName, Value: after.Value, Path: "/"}})
		if !signedIn(t, stolen) {
			t.Fatal("the session cookie does not identify the session")
		}
	})
}

// newHandler builds the pages alone, for what the full server cannot show.
func newHandler(t *testing.T, issuer string, fsys fs.FS) http.Handler {
	t.Helper()
	h, _ := newHandlerWith(t, issuer, fsys, nil)
	return h
}

// newHandlerWith is newHandler with the session index given (nil: none)
// and the store returned.
func newHandlerWith(t *testing.T, issuer string, fsys fs.FS, logouts web.SessionLogouts) (http.Handler, *storage.Store) {
	t.Helper()
	rs := testredis.New(t)
	store, err := storage.Open(context.Background(), storage.Options{URL: rs.URL, Prefix: rs.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	keys, err := token.NewKeySet(token.AlgES256, token.AlgRS256)
	if err != nil {
		t.Fatal(err)
	}
	revoker, err := account.NewRevoker(store, nil, time.Hour, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	checker, err := secret.NewChecker(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	box := secret.NewRandomBox()
	pending, err := oauth.NewPendingRequests(store, box, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := web.New(web.Deps{Config: web.Config{Issuer: issuer, ResumePath: oauth.AuthorizeResumePath}, Store: store,
		Clients: store, Users: store, Pending: pending, Box: box,
		Limiter: ratelimit.New(store.Redis(), rs.Prefix, ratelimit.Limits{PerUsername: 5, PerIP: 5}),
		Revoker: revoker, Logouts: logouts, Checker: checker, Keys: keys, Templates: fsys})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET(web.LoginPath, h.LoginPage)
	r.POST(web.LoginPath, h.Login)
	r.GET(web.AccountConsentPath, h.AccountConsents)
	return r, store
}

func TestSecureCookieOnHTTPSIssuer(t *testing.T) {
	h := newHandler(t, "https://login.example.com", templates.FS)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	setCookie := rec.Header().Get("Set-Cookie")
	for _, want := range []string{web.SecureLoginCookieName + "=", "Secure", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Domain=") {
		t.Errorf("a __Host- cookie must not have a Domain: %q", setCookie)
	}
}

func TestTemplatesFromAnyFS(t *testing.T) {
	fsys := fstest.MapFS{"static/oauth2d.css": {Data: []byte("body{}")}, "static/favicon.png": {Data: []byte("png")}, "static/passkeys.js": {Data: []byte("")}}
	fsys["layout.html"] = &fstest.MapFile{Data: []byte(`{{define "layout"}}[{{.Title}}]{{template "content" .}}{{end}}`)}
	fsys["passkeys.html"] = &fstest.MapFile{Data: []byte(`{{define "passkeys"}}{{end}}`)}
	for _, name := range []string{"consent", "error", "logout", "signedout", "consents", "account", "sessions", "password", "device", "device_done", "secondfactor", "security", "recoverycodes"} {
		fsys[name+".html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}x{{end}}`)}
	}
	fsys["login.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}custom login {{.CSRF}}{{end}}`)}
	h := newHandler(t, "http://localhost:8080", fsys)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
	if body := rec.Body.String(); !strings.HasPrefix(body, "[Sign in]custom login ") || len(body) < 40 {
		t.Fatalf("body = %q", body)
	}

	t.Run("a missing page is a start-up error", func(t *testing.T) {
		delete(fsys, "consent.html")
		_, err := web.New(web.Deps{Config: web.Config{Issuer: "http://localhost:8080"}, Store: &storage.Store{},
			Clients: &storage.Store{}, Users: &storage.Store{}, Pending: &oauth.PendingRequests{}, Box: secret.NewRandomBox(),
			Limiter: ratelimit.New(nil, "", ratelimit.Limits{}), Keys: &token.KeySet{}, Templates: fsys})
		if err == nil || !strings.HasPrefix(err.Error(), "web: ") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestLoginFailures(t *testing.T) {
	s := webtest.New(t, webtest.Options{Limits: ratelimit.Limits{PerUsername: 3, PerIP: 100}})

	t.Run("same answer for unknown user and wrong password", func(t *testing.T) {
		b := s.NewBrowser(t)
		unknown := b.SubmitLogin(b.Get("/login"), "mallory", "whatever")
		wrong := b.SubmitLogin(b.Get("/login"), "bob", "whatever")
		if unknown.Status != http.StatusBadRequest || wrong.Status != unknown.Status {
			t.Fatalf("statuses %d and %d", unknown.Status, wrong.Status)
		}
		msg := "Incorrect username or password."
		if !strings.Contains(unknown.Body, msg) || !strings.Contains(wrong.Body, msg) {
			t.Fatal("the generic message is missing")
		}
		if signedIn(t, b) {
			t.Fatal("signed in with a wrong password")
		}
	})
	t.Run("no csrf token", func(t *testing.T) {
		b := s.NewBrowser(t)
		b.Get("/login")
		p := b.Post("/login", url.Values{"username": {"alice"}, "password": {webtest.AlicePassword}})
		if p.Status != http.StatusForbidden || signedIn(t, b) {
			t.Fatalf("got %d, signed in %v", p.Status, signedIn(t, b))
		}
	})
	// A cross-site login CSRF comes from a browser that has never loaded
	// the login page: no login cookie, so no token to match, and an empty
	// token must not match that empty one.
	for name, form := range map[string]url.Values{
		"no login cookie, empty csrf token": {"csrf_token": {""}},
		"no login cookie, no csrf field":    {},
		"no login cookie, another browser's csrf token": {
			"csrf_token": {s.NewBrowser(t).Get("/login").Hidden("csrf_token")}},
	} {
		t.Run(name, func(t *testing.T) {
			b := s.NewBrowser(t)
			form.Set("username", "alice")
			form.Set("password", webtest.AlicePassword)
			p := b.Post("/login", form)
			if p.Status != http.StatusForbidden {
				t.Fatalf("got %d, want 403", p.Status)
			}
			for _, c := range (&http.Response{Header: p.Header}).Cookies() {
				if c.Name == web.DevCookieName && c.Value != "" {
					t.Fatalf("a session cookie was set: %v", c)
				}
			}
			if signedIn(t, b) {
				t.Fatal("signed in without a login form")
			}
		})
	}
	t.Run("another browser's csrf token", func(t *testing.T) {
		token := s.NewBrowser(t).Get("/login").Hidden("csrf_token")
		b := s.NewBrowser(t)
		b.Get("/login")
		p := b.Post("/login", url.Values{"username": {"alice"}, "password": {webtest.AlicePassword}, "csrf_token": {token}})
		if p.Status != http.StatusForbidden || signedIn(t, b) {
			t.Fatalf("got %d", p.Status)
		}
	})
	t.Run("rate limited per username", func(t *testing.T) {
		b := s.NewBrowser(t)
		var last *webtest.Page
		for range 4 {
			last = b.SubmitLogin(b.Get("/login"), "admin", "guess")
		}
		if last.Status != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
			t.Fatalf("4th attempt: %d Retry-After=%q", last.Status, last.Header.Get("Retry-After"))
		}
		if p := b.SubmitLogin(b.Get("/login"), "admin", webtest.AdminPassword); p.Status != http.StatusTooManyRequests {
			t.Fatalf("the right password passed the limit: %d", p.Status)
		}
	})
}

func TestIdleSessionEnds(t *testing.T) {
	s := webtest.New(t, webtest.Options{SessionIdleTTL: time.Second})
	b := s.NewBrowser(t)
	signIn(t, b, "alice", webtest.AlicePassword)
	time.Sleep(1200 * time.Millisecond)
	if signedIn(t, b) {
		t.Fatal("the session outlived its idle lifetime")
	}
}
