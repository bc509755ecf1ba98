package webtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// Browser is a user agent without JavaScript: it keeps cookies and lets
// the test follow each redirect.
type Browser struct {
	t      testing.TB
	s      *Server
	Client *http.Client
}

// HTTPClient is a client for the server's own calls: on TLS it trusts the
// test certificate.
func (s *Server) HTTPClient() *http.Client {
	if s.env.Server.TLS != nil {
		return s.env.Server.Client()
	}
	return http.DefaultClient
}

// NewBrowser returns a browser with an empty cookie jar.
func (s *Server) NewBrowser(t testing.TB) *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	client.Transport = s.HTTPClient().Transport
	return &Browser{t: t, s: s, Client: client}
}

// Page is one response as the browser saw it.
type Page struct {
	Status int
	Header http.Header
	Body   string
	URL    *url.URL // what was requested
}

// Location is the resolved redirect target, or nil.
func (p *Page) Location() *url.URL {
	loc := p.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := p.URL.Parse(loc)
	if err != nil {
		return nil
	}
	return u
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// Hidden returns the value of the first hidden input called name.
func (p *Page) Hidden(name string) string {
	for _, m := range hiddenInput.FindAllStringSubmatch(p.Body, -1) {
		if html.UnescapeString(m[1]) == name {
			return html.UnescapeString(m[2])
		}
	}
	return ""
}

// Get fetches rawURL (relative to the server when it starts with /).
func (b *Browser) Get(rawURL string) *Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(rawURL), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.Do(req)
}

// Post submits form to rawURL as a browser submits an HTML form.
func (b *Browser) Post(rawURL string, form url.Values) *Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.abs(rawURL), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(req)
}

// Do sends req with the browser's cookies.
func (b *Browser) Do(req *http.Request) *Page {
	b.t.Helper()
	res, err := b.Client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return &Page{Status: res.StatusCode, Header: res.Header, Body: string(body), URL: req.URL}
}

func (b *Browser) abs(rawURL string) string {
	if strings.HasPrefix(rawURL, "/") {
		return b.s.URL + rawURL
	}
	return rawURL
}

// Follow follows redirects while they stay on the server and returns the
// first page, or the redirect that leaves the server (to the client).
func (b *Browser) Follow(p *Page) *Page {
	b.t.Helper()
	for range 10 {
		loc := p.Location()
		if p.Status < 300 || p.Status > 399 || loc == nil || !strings.HasPrefix(loc.String(), b.s.URL+"/") {
			return p
		}
		p = b.Get(loc.String())
	}
	b.t.Fatalf("webtest: too many redirects, last %s", p.URL)
	return nil
}

// Authorize opens the authorization endpoint and follows it to a page or
// to the client.
func (b *Browser) Authorize(params url.Values) *Page {
	b.t.Helper()
	return b.Follow(b.Get("/oauth2/authorize?" + params.Encode()))
}

// SubmitLogin fills in and submits the login page p.
func (b *Browser) SubmitLogin(p *Page, username, password string) *Page {
	b.t.Helper()
	if !strings.Contains(p.Body, `name="password"`) {
		b.t.Fatalf("webtest: not a login page: %d %s", p.Status, p.Body)
	}
	f := url.Values{"username": {username}, "password": {password}}
	for _, m := range hiddenInput.FindAllStringSubmatch(p.Body, -1) {
		f.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return b.Follow(b.Post("/login", f))
}

// SubmitConsent presses the allow or deny button of the consent page p.
func (b *Browser) SubmitConsent(p *Page, decision string) *Page {
	b.t.Helper()
	if !strings.Contains(p.Body, `name="decision"`) {
		b.t.Fatalf("webtest: not a consent page: %d %s", p.Status, p.Body)
	}
	return b.Follow(b.Post("/consent", url.Values{"decision": {decision}, "csrf_token": {p.Hidden("csrf_token")}, "req": {p.Hidden("req")}}))
}

// Callback checks that p redirects to the client's redirect URI and
// returns the response parameters.
func (s *Server) Callback(t testing.TB, p *Page) url.Values {
	t.Helper()
	loc := p.Location()
	if p.Status != http.StatusFound && p.Status != http.StatusSeeOther || loc == nil {
		t.Fatalf("webtest: want a redirect to the client, got %d %s", p.Status, p.Body)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != s.RedirectURI && got != SecondRedirect {
		t.Fatalf("webtest: redirected to %s, want the client's redirect URI", loc)
	}
	return loc.Query()
}

// PKCE returns a fresh verifier and its S256 challenge.
func PKCE() (verifier, challenge string) {
	verifier = secret.NewToken(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// CodeRequest is the usual authorization request for clientID with PKCE;
// it returns the parameters and the verifier.
func CodeRequest(clientID, scope string) (url.Values, string) {
	verifier, challenge := PKCE()
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {DefaultRedirect},
		"scope": {scope}, "state": {"st-" + secret.NewToken(8)}, "nonce": {"n-" + secret.NewToken(8)},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}, verifier
}

// TokenResponse is a token endpoint answer.
type TokenResponse struct {
	Status int
	Body   map[string]any
	Raw    string
}

// Str returns a string member of the body.
func (r TokenResponse) Str(name string) string {
	v, _ := r.Body[name].(string)
	return v
}

// PostToken calls the token endpoint with client credentials in the body
// (or only client_id when clientSecret is empty).
func (s *Server) PostToken(t testing.TB, form url.Values, clientID, clientSecret string) TokenResponse {
	t.Helper()
	res, err := s.TryPostToken(form, clientID, clientSecret)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TryPostToken is PostToken for goroutines other than the test's own: it
// returns its failure, as only the test goroutine may call t.Fatal.
func (s *Server) TryPostToken(form url.Values, clientID, clientSecret string) (TokenResponse, error) {
	form.Set("client_id", clientID)
	if clientSecret != "" {
		form.Set("client_secret", clientSecret)
	}
	res, err := s.HTTPClient().PostForm(s.URL+"/oauth2/token", form)
	if err != nil {
		return TokenResponse{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := TokenResponse{Status: res.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.Body)
	return out, nil
}

// Exchange redeems an authorization code.
func (s *Server) Exchange(t testing.TB, code, verifier, clientID, clientSecret string) TokenResponse {
	t.Helper()
	return s.PostToken(t, s.exchangeForm(code, verifier), clientID, clientSecret)
}

// TryExchange is Exchange for goroutines other than the test's own.
func (s *Server) TryExchange(code, verifier, clientID, clientSecret string) (TokenResponse, error) {
	return s.TryPostToken(s.exchangeForm(code, verifier), clientID, clientSecret)
}

func (s *Server) exchangeForm(code, verifier string) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.RedirectURI}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return f
}

// Active asks the introspection endpoint whether the access token tok is
// active, as the service: a resource server registered for the server's
// audience.
func (s *Server) Active(t testing.TB, tok string) bool {
	t.Helper()
	if strings.Count(tok, ".") != 2 {
		// Only its own client learns about a refresh token: asked by the
		// service, it would be inactive whatever its state.
		t.Fatal("webtest: Active: not an access token; ask about a refresh token with ActiveFor and its client")
	}
	return s.ActiveFor(t, tok, ServiceID, ServiceSecret)
}

// ActiveFor asks the introspection endpoint whether tok is active, as the
// client id.
func (s *Server) ActiveFor(t testing.TB, tok, id, secret string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	res, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("webtest: introspect: %d %v", res.StatusCode, err)
	}
	return body.Active
}
