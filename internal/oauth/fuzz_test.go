package oauth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// Native fuzz targets (go test -fuzz). Their seed corpora are in
// testdata/fuzz/<target>; .ci/run runs each for a bounded time. Each
// asserts properties, not just the absence of a panic.

// fuzzClients are the registered clients the targets work against.
var fuzzClients = map[string]*storage.Client{
	"app": {ID: "app", SecretHash: "hash:app-secret", GrantTypes: []string{"authorization_code", "client_credentials"},
		Scopes: []string{"openid", "profile", "comments:read"}, RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"}},
	"spa": {ID: "spa", Public: true, GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid", "profile"}, RedirectURIs: []string{"https://spa.example/cb?x=1"}},
}

type fuzzClientStore struct{ AuthorizeStore }

func (fuzzClientStore) GetClient(_ context.Context, id string) (*storage.Client, error) {
	if c, ok := fuzzClients[id]; ok {
		return c, nil
	}
	return nil, storage.ErrNotFound
}

func (fuzzClientStore) GetAuthRequest(context.Context, string) (*storage.AuthRequest, error) {
	return nil, storage.ErrNotFound
}

// FuzzTokenRequest: the token endpoint's form and client authentication.
// Whatever the body and headers, a parsed form holds each parameter once
// with a value, and an authenticated client is the registered client whose
// id was presented, with its own secret unless it is public.
func FuzzTokenRequest(f *testing.F) {
	f.Add("grant_type=client_credentials&client_id=app&client_secret=app-secret", "application/x-www-form-urlencoded", "")
	f.Add("grant_type=client_credentials", "application/x-www-form-urlencoded", "Basic YXBwOmFwcC1zZWNyZXQ=")
	f.Add("grant_type=authorization_code&client_id=spa&code=x", "application/x-www-form-urlencoded; charset=utf-8", "")
	f.Add("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhcHAifQ.AAAA",
		"application/x-www-form-urlencoded", "")
	checker, err := secret.NewChecker(1, func(hash, presented string) (bool, error) { return hash == "hash:"+presented, nil })
	if err != nil {
		f.Fatal(err)
	}
	auth, err := newClientAuthenticator(fuzzClientStore{}, checker, assertionDeps{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body, contentType, authorization string) {
		r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: TokenPath}, Header: http.Header{},
			Body: io.NopCloser(strings.NewReader(body))}
		r.Header.Set("Content-Type", contentType)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		form, e := readForm(httptest.NewRecorder(), r, 64<<10)
		if e != nil {
			return
		}
		for name, v := range form {
			if len(v) != 1 || v[0] == "" {
				t.Fatalf("parameter %q = %q", name, v)
			}
		}
		cc, e := readClientCredentials(r, form)
		if e != nil {
			if e.Status != http.StatusBadRequest && e.Status != http.StatusUnauthorized {
				t.Fatalf("status %d", e.Status)
			}
			return
		}
		if cc.method == authMethodPrivateKeyJWT {
			// The client is named inside the assertion; without a replay
			// store every assertion is refused.
			if len(cc.assertion) > maxClientAssertionLen || cc.secret != "" || authorization != "" {
				t.Fatalf("assertion credentials %+v with Authorization %q", cc, authorization)
			}
			if _, e := auth.authenticate(context.Background(), cc); e == nil || e.Status != http.StatusUnauthorized {
				t.Fatalf("an assertion authenticated without a replay store: %v", e)
			}
			return
		}
		if cc.id == "" || len(cc.id) > maxClientIDLen || len(cc.secret) > maxClientSecretLen {
			t.Fatalf("credentials %+v", cc)
		}
		if (cc.method == authMethodBasic) != (authorization != "") {
			t.Fatalf("method %v with Authorization %q", cc.method, authorization)
		}
		client, e := auth.authenticate(context.Background(), cc)
		if e != nil {
			return
		}
		if client.ID != cc.id {
			t.Fatalf("presented %q, authenticated %q", cc.id, client.ID)
		}
		if !client.Public && client.SecretHash != "hash:"+cc.secret {
			t.Fatalf("client %q authenticated with secret %q", client.ID, cc.secret)
		}
		if client.Public && cc.secret != "" {
			t.Fatalf("public client %q authenticated with a secret", client.ID)
		}
	})
}

// FuzzParseScope: a parsed scope is at most maxScopes distinct, non-empty
// scope-tokens of RFC 6749 §3.3, each from the input, and parses back to
// itself.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "openid profile", "a  b a", `a"b`, "café", strings.Repeat("x ", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scopes, ok := parseScope(s)
		if !ok {
			if scopes != nil {
				t.Fatalf("refused but returned %q", scopes)
			}
			return
		}
		if len(scopes) > maxScopes || len(s) > maxScopeLen {
			t.Fatalf("accepted %d scopes from %d bytes", len(scopes), len(s))
		}
		seen := map[string]bool{}
		inInput := map[string]bool{}
		for _, tok := range strings.Split(s, " ") {
			inInput[tok] = true
		}
		for _, sc := range scopes {
			if sc == "" || seen[sc] || !inInput[sc] {
				t.Fatalf("scope %q in %q (input %q)", sc, scopes, s)
			}
			seen[sc] = true
			for i := 0; i < len(sc); i++ {
				if c := sc[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
					t.Fatalf("scope %q holds %q", sc, c)
				}
			}
		}
		again, ok := parseScope(joinScope(scopes))
		if !ok || !slices.Equal(again, scopes) {
			t.Fatalf("%q does not parse back: %q %v", scopes, again, ok)
		}
	})
}

// FuzzRedirectURI: a redirect URI the authorization endpoint accepts is
// exactly one the client registered (RFC 9700 §4.1.3), or a registered
// loopback IP URI on another port (RFC 8252 §7.3; FuzzRedirectURIMatches
// pins that only the port differs), never one that only looks like it,
// and carries no fragment.
func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{"https://app.example/cb", "https://app.example/cb/", "https://app.example/cb/../evil",
		"https://app.example/cb?x", "https://APP.example/cb", "http://127.0.0.1:8080/cb", "https://app.example/cb#f", ""} {
		f.Add("https://app.example/cb", s, false)
	}
	f.Add("https://app.example/cb#frag", "https://app.example/cb#frag", true)
	f.Fuzz(func(t *testing.T, registered, requested string, omit bool) {
		client := &storage.Client{ID: "app", RedirectURIs: []string{registered}}
		if !omit {
			client.RedirectURIs = append(client.RedirectURIs, "http://127.0.0.1/cb")
		}
		v := url.Values{}
		if requested != "" {
			v.Set("redirect_uri", requested)
		}
		req := &storage.AuthRequest{}
		if pe := resolveRedirectURI(client, v, req); pe != nil {
			return
		}
		if !slices.ContainsFunc(client.RedirectURIs, func(r string) bool { return redirectURIMatches(r, req.RedirectURI) }) {
			t.Fatalf("accepted %q, registered %q", req.RedirectURI, client.RedirectURIs)
		}
		if requested != "" && req.RedirectURI != requested {
			t.Fatalf("requested %q, got %q", requested, req.RedirectURI)
		}
		if requested == "" && (len(client.RedirectURIs) != 1 || !req.RedirectURIOmitted) {
			t.Fatalf("omitted redirect_uri resolved to %q among %q", req.RedirectURI, client.RedirectURIs)
		}
		if strings.Contains(req.RedirectURI, "#") {
			t.Fatalf("accepted a fragment: %q", req.RedirectURI)
		}
	})
}

// FuzzAuthorizationRequest: whatever the query, the endpoint either shows
// a page (client or redirect URI not trusted), or answers to a registered
// redirect URI; a request it accepts holds only bounded, valid values
// within the client's registration, and survives sealing unchanged.
func FuzzAuthorizationRequest(f *testing.F) {
	f.Add("response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid&state=s")
	f.Add("response_type=code&client_id=spa&scope=openid+profile&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&nonce=n&prompt=login&max_age=0&login_hint=alice")
	f.Add("client_id=app&client_id=app")
	f.Add("response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid&resource=https%3A%2F%2Fissuer.example%2Fapi&resource=https%3A%2F%2Fother.example%2F")
	f.Add("response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&id_token_hint=eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ1In0.AAAA")
	pending, err := NewPendingRequests(fuzzClientStore{}, secret.NewRandomBox(), nil)
	if err != nil {
		f.Fatal(err)
	}
	a := &Authorizer{cfg: AuthorizerConfig{Issuer: "https://issuer.example", AuthRequestTTL: time.Minute},
		store: fuzzClientStore{}, clients: fuzzClientStore{}, pending: pending, log: slog.New(slog.DiscardHandler), now: time.Now, keys: noKeys{},
		res: NewResources([]*storage.Resource{{ID: "https://issuer.example/api", Scopes: []string{"comments:read"}}}, nil, "")}
	f.Fuzz(func(t *testing.T, query string) {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: AuthorizePath, RawQuery: query}, Header: http.Header{}}
		v, pe := authorizeParams(r)
		if pe != nil {
			return
		}
		req, e, pe := a.parseAuthorization(context.Background(), v)
		if pe != nil {
			if req != nil || e != nil {
				t.Fatal("a page error with a request or a redirect error")
			}
			return
		}
		client := fuzzClients[req.ClientID]
		if client == nil || !slices.Contains(client.RedirectURIs, req.RedirectURI) {
			t.Fatalf("answer to %q for client %q", req.RedirectURI, req.ClientID)
		}
		if len(req.State) > maxStateLen || !visibleASCII(req.State) {
			t.Fatalf("state %q", req.State)
		}
		if e != nil {
			if e.Code == "" || strings.Contains(e.Description, query) && query != "" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if !subset(req.RequestedScope, client.Scopes) || len(req.RequestedScope) > maxScopes {
			t.Fatalf("scope %q for a client registered for %q", req.RequestedScope, client.Scopes)
		}
		if req.IDTokenHintSubject != "" {
			t.Fatalf("id_token_hint for %q accepted with no key published", req.IDTokenHintSubject)
		}
		if len(req.Nonce) > maxNonceLen || len(req.LoginHint) > maxLoginHintLen {
			t.Fatalf("nonce %d, login_hint %d bytes", len(req.Nonce), len(req.LoginHint))
		}
		if client.Public && (req.CodeChallengeMethod != PKCEMethodS256 || !challengePattern.MatchString(req.CodeChallenge)) {
			t.Fatalf("public client without S256 PKCE: %q %q", req.CodeChallengeMethod, req.CodeChallenge)
		}
		req.CreatedAt = time.Now().UTC().Truncate(time.Second)
		req.ExpiresAt = req.CreatedAt.Add(time.Minute)
		handle, err := pending.seal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := pending.GetAuthRequest(context.Background(), handle)
		if err != nil {
			t.Fatal(err)
		}
		back.ID = ""
		if !reflect.DeepEqual(back, req) {
			t.Fatalf("sealed %+v, opened %+v", req, back)
		}
	})
}

// noKeys publishes no key: every id_token_hint is refused.
type noKeys struct{}

func (noKeys) Lookup(string) (*token.Key, bool) { return nil, false }
