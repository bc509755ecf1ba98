package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// cookieRecorder keeps every Set-Cookie the server sends, redirects
// included, which Browser.Follow does not return.
type cookieRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (r *cookieRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	next := r.next
	if next == nil {
		next = http.DefaultTransport
	}
	res, err := next.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.seen = append(r.seen, res.Header.Values("Set-Cookie")...)
		r.mu.Unlock()
	}
	return res, err
}

// browse runs a sign-in, a consent, a code exchange, API calls, errors and
// a sign-out on s, and returns every answer by name with the Set-Cookie
// headers seen on the way.
func browse(t *testing.T, s *webtest.Server) (map[string]*webtest.Page, []string) {
	t.Helper()
	b := s.NewBrowser(t)
	cookies := &cookieRecorder{next: b.Client.Transport}
	b.Client.Transport = cookies
	get := func(path, bearer string) *webtest.Page {
		req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		return b.Do(req)
	}

	params, verifier := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
	login := b.Authorize(params)
	consent := b.SubmitLogin(login, "alice", webtest.AlicePassword)
	code := s.Callback(t, b.SubmitConsent(consent, "allow")).Get("code")
	tok := s.Exchange(t, code, verifier, webtest.ThirdPartyID, webtest.ThirdPartySecret)
	if tok.Status != http.StatusOK {
		t.Fatalf("code exchange: %d %s", tok.Status, tok.Raw)
	}
	account := b.Get("/account/consents")
	answers := map[string]*webtest.Page{
		"login page":      login,
		"consent page":    consent,
		"account page":    account,
		"error page":      b.Get("/oauth2/authorize?client_id=nobody"),
		"discovery":       get("/.well-known/openid-configuration", ""),
		"api answer":      get("/api/v1/me", tok.Str("access_token")),
		"api error":       get("/api/v1/me", ""),
		"token error":     b.Post("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {"used-up"}}),
		"not found":       get("/no/such/path", ""),
		"health":          get("/healthz", ""),
		"signed-out page": b.Post("/logout", url.Values{"csrf_token": {account.Hidden("csrf_token")}}),
	}
	want := map[string]int{"api answer": http.StatusOK, "api error": http.StatusUnauthorized,
		"token error": http.StatusUnauthorized, "not found": http.StatusNotFound, "signed-out page": http.StatusOK}
	for name, status := range want {
		if got := answers[name].Status; got != status {
			t.Fatalf("%s: status %d, want %d: %s", name, got, status, answers[name].Body)
		}
	}
	return answers, cookies.seen
}

// Issue 21 item 5: on an https issuer every answer tells the browser to
// keep to https (RFC 6797) and every cookie is Secure; on a loopback http
// issuer neither, since a browser ignores HSTS over http (RFC 6797 §8.1)
// and would not send a Secure cookie back.
func TestHTTPSPosture(t *testing.T) {
	t.Run("https issuer", func(t *testing.T) {
		s := webtest.New(t, webtest.Options{TLS: true})
		if !strings.HasPrefix(s.Issuer, "https://") {
			t.Fatalf("issuer %s", s.Issuer)
		}
		answers, cookies := browse(t, s)
		for name, p := range answers {
			if got := p.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
				t.Errorf("%s (%d): Strict-Transport-Security = %q", name, p.Status, got)
			}
		}
		if len(cookies) < 3 { // the login form's, the session, the sign-out's clearing
			t.Fatalf("only %d cookies set: %q", len(cookies), cookies)
		}
		for _, c := range cookies {
			if !strings.Contains(c, "; Secure") || !strings.HasPrefix(c, "__Host-") {
				t.Errorf("cookie without Secure or the __Host- prefix: %q", c)
			}
		}
	})
	t.Run("http loopback issuer", func(t *testing.T) {
		answers, cookies := browse(t, webtest.New(t, webtest.Options{}))
		for name, p := range answers {
			if got := p.Header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("%s: Strict-Transport-Security = %q on an http issuer", name, got)
			}
		}
		for _, c := range cookies {
			if strings.Contains(c, "Secure") {
				t.Errorf("Secure cookie on an http issuer, which the browser would not send back: %q", c)
			}
		}
	})
}
