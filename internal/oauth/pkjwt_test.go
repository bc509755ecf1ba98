package oauth_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The keys of the private_key_jwt tests, made once: RSA generation is
// slow under -race.
var pkKeys = sync.OnceValue(func() map[string]crypto.Signer {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	return map[string]crypto.Signer{"rsa": r, "ec": ec, "ed": ed, "other": other}
})

const pkClientID = "pk-service"

// pkJWKS is the public JWK Set of the named keys, each with its name as
// kid.
func pkJWKS(t testing.TB, names ...string) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, n := range names {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pkKeys()[n].Public(), KeyID: n, Use: "sig"})
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// registerPK stores a client_credentials client registered for
// private_key_jwt with the given keys (inline) or jwks_uri.
func (s *server) registerPK(id, jwks, jwksURI string) {
	s.t.Helper()
	c := &storage.Client{ID: id, TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: jwks, JWKSURI: jwksURI,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"comments:read"}, IntrospectionAudiences: s.Audience}
	if err := s.Store.UpsertClient(context.Background(), c); err != nil {
		s.t.Fatal(err)
	}
	waitForClient(s, id, jwks, jwksURI)
}

// waitForClient: the handler reads clients through a cache that learns
// of changes over pub/sub.
func waitForClient(s *server, id, jwks, jwksURI string) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := s.deps.Clients.GetClient(context.Background(), id)
		if err == nil && c.JWKS == jwks && c.JWKSURI == jwksURI {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("client %s never reached the cache", id)
}

// claims are a valid assertion's claims for s, changed by edit.
func (s *server) pkClaims(edit func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": pkClientID, "sub": pkClientID, "aud": s.Issuer, "jti": secret.NewToken(16),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	if edit != nil {
		edit(c)
	}
	return c
}

// sign makes a compact JWS of claims with the named key, alg and header.
func sign(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, kid string, extra map[jose.HeaderKey]any, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	if kid == "" {
		opts = &jose.SignerOptions{}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *server) assertionForm(assertion string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "scope": {"comments:read"},
		"client_assertion_type": {oauth.ClientAssertionTypeJWT}, "client_assertion": {assertion}}
}

func (s *server) pkToken(assertion string) response {
	s.t.Helper()
	return s.post(oauth.TokenPath, s.assertionForm(assertion), "", "")
}

// hs256 is an HMAC-SHA256 JWS "signed" with secret, made by hand so that
// no library refuses to use a public key as a secret.
func hs256(t testing.TB, secretKey []byte, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secretKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func unsignedJWT(claims map[string]any) string {
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

func TestPrivateKeyJWTAccepts(t *testing.T) {
	s := newServer(t)
	s.registerPK(pkClientID, pkJWKS(t, "rsa", "ec", "ed"), "")
	for _, tc := range []struct {
		name string
		key  string
		alg  jose.SignatureAlgorithm
		kid  string
		typ  string
	}{
		{"RS256", "rsa", jose.RS256, "rsa", ""},
		{"PS256", "rsa", jose.PS256, "rsa", ""},
		{"ES256", "ec", jose.ES256, "ec", "JWT"},
		{"EdDSA explicitly typed", "ed", jose.EdDSA, "ed", "client-authentication+jwt"},
		{"no kid", "ec", jose.ES256, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[jose.HeaderKey]any{}
			if tc.typ != "" {
				extra[jose.HeaderType] = tc.typ
			}
			res := s.pkToken(sign(t, pkKeys()[tc.key], tc.alg, tc.kid, extra, s.pkClaims(nil)))
			if res.Status != http.StatusOK || res.str("access_token") == "" {
				t.Fatalf("got %d %s", res.Status, res.Raw)
			}
		})
	}
	// client_id, when sent, must be the assertion's sub.
	f := s.assertionForm(sign(t, pkKeys()["ec"], jose.ES256, "ec", nil, s.pkClaims(nil)))
	f.Set("client_id", pkClientID)
	if res := s.post(oauth.TokenPath, f, "", ""); res.Status != http.StatusOK {
		t.Fatalf("with client_id: %d %s", res.Status, res.Raw)
	}
	// The same assertion authenticates at introspection and revocation.
	tok := s.pkToken(sign(t, pkKeys()["ec"], jose.ES256, "ec", nil, s.pkClaims(nil))).str("access_token")
	in := s.assertionForm(sign(t, pkKeys()["ec"], jose.ES256, "ec", nil, s.pkClaims(nil)))
	in = url.Values{"token": {tok}, "client_assertion_type": in["client_assertion_type"], "client_assertion": in["client_assertion"]}
	if res := s.post(oauth.IntrospectionPath, in, "", ""); res.Status != http.StatusOK || res.Body["active"] != true {
		t.Fatalf("introspection: %d %s", res.Status, res.Raw)
	}
	rv := s.assertionForm(sign(t, pkKeys()["ec"], jose.ES256, "ec", nil, s.pkClaims(nil)))
	rv = url.Values{"token": {tok}, "client_assertion_type": rv["client_assertion_type"], "client_assertion": rv["client_assertion"]}
	if res := s.post(oauth.RevocationPath, rv, "", ""); res.Status != http.StatusOK {
		t.Fatalf("revocation: %d %s", res.Status, res.Raw)
	}
}

// TestPrivateKeyJWTRefusals: every bad assertion is invalid_client (401)
// with a description, and issues nothing.
func TestPrivateKeyJWTRefusals(t *testing.T) {
	// A body large enough for an oversized assertion to reach its check.
	s := newServer(t, func(d *oauth.Deps, _ *ratelimit.Limits) { d.Config.MaxBodyBytes = 64 << 10 })
	s.registerPK(pkClientID, pkJWKS(t, "rsa", "ec"), "")
	ec, rsaKey := pkKeys()["ec"], pkKeys()["rsa"]
	good := func(edit func(map[string]any)) string { return sign(t, ec, jose.ES256, "ec", nil, s.pkClaims(edit)) }
	replayed := good(nil)
	if res := s.pkToken(replayed); res.Status != http.StatusOK {
		t.Fatalf("first use: %d %s", res.Status, res.Raw)
	}
	rsaPub, _ := json.Marshal(jose.JSONWebKey{Key: rsaKey.Public()})
	now := time.Now()
	for _, tc := range []struct {
		name, assertion string
	}{
		{"replayed jti", replayed},
		{"aud is the token endpoint", good(func(c map[string]any) { c["aud"] = s.Issuer + oauth.TokenPath })},
		{"aud is an array holding the issuer", good(func(c map[string]any) { c["aud"] = []string{s.Issuer} })},
		{"aud is another server", good(func(c map[string]any) { c["aud"] = "https://other.example" })},
		{"aud missing", good(func(c map[string]any) { delete(c, "aud") })},
		{"expired", good(func(c map[string]any) {
			c["exp"] = now.Add(-time.Minute).Unix()
			c["iat"] = now.Add(-2 * time.Minute).Unix()
		})},
		{"long-lived", good(func(c map[string]any) { c["exp"] = now.Add(time.Hour).Unix() })},
		{"lifetime over 5 minutes from iat", good(func(c map[string]any) { c["iat"] = now.Add(-5 * time.Minute).Unix() })},
		{"far-future exp", good(func(c map[string]any) { c["exp"] = 1e300; delete(c, "iat") })},
		{"no exp", good(func(c map[string]any) { delete(c, "exp") })},
		{"iat in the future", good(func(c map[string]any) {
			c["iat"] = now.Add(2 * time.Minute).Unix()
			c["exp"] = now.Add(3 * time.Minute).Unix()
		})},
		{"nbf in the future", good(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() })},
		{"no jti", good(func(c map[string]any) { delete(c, "jti") })},
		{"iss is not sub", good(func(c map[string]any) { c["iss"] = "someone" })},
		{"sub is another client", good(func(c map[string]any) { c["sub"], c["iss"] = serviceID, serviceID })},
		{"unknown client", good(func(c map[string]any) { c["sub"], c["iss"] = "nobody", "nobody" })},
		{"wrong key", sign(t, pkKeys()["other"], jose.RS256, "rsa", nil, s.pkClaims(nil))},
		{"wrong key, no kid", sign(t, pkKeys()["other"], jose.RS256, "", nil, s.pkClaims(nil))},
		{"kid unknown", sign(t, ec, jose.ES256, "nope", nil, s.pkClaims(nil))},
		{"alg none", unsignedJWT(s.pkClaims(nil))},
		{"HS256 with the public key as secret", hs256(t, rsaPub, s.pkClaims(nil))},
		{"RS384 not allowed", sign(t, rsaKey, jose.RS384, "rsa", nil, s.pkClaims(nil))},
		{"typ of a DPoP proof", sign(t, ec, jose.ES256, "ec", map[jose.HeaderKey]any{jose.HeaderType: "dpop+jwt"}, s.pkClaims(nil))},
		{"not a JWT", "not.a.jwt"},
		{"too large", good(func(c map[string]any) { c["pad"] = strings.Repeat("x", 9000) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.post(oauth.TokenPath, s.assertionForm(tc.assertion), "", "")
			wantError(t, res, http.StatusUnauthorized, "invalid_client")
			if tc.name == "too large" && !strings.Contains(res.str("error_description"), "too large") {
				t.Errorf("an oversized assertion was read: %s", res.Raw)
			}
			if res.str("error_description") == "" && tc.name != "unknown client" {
				t.Errorf("no error_description: %s", res.Raw)
			}
		})
	}
}

// TestPrivateKeyJWTMixedMethods: one method per request, and each client
// only its registered one.
func TestPrivateKeyJWTMixedMethods(t *testing.T) {
	s := newServer(t)
	s.registerPK(pkClientID, pkJWKS(t, "ec"), "")
	ec := pkKeys()["ec"]
	assertion := func() string { return sign(t, ec, jose.ES256, "ec", nil, s.pkClaims(nil)) }

	// Basic beside an assertion: two methods.
	res := s.post(oauth.TokenPath, s.assertionForm(assertion()), serviceID, serviceSecret)
	wantError(t, res, http.StatusBadRequest, "invalid_request")
	f := s.assertionForm(assertion())
	f.Set("client_secret", "x")
	wantError(t, s.post(oauth.TokenPath, f, "", ""), http.StatusBadRequest, "invalid_request")
	// A wrong assertion type.
	f = s.assertionForm(assertion())
	f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
	wantError(t, s.post(oauth.TokenPath, f, "", ""), http.StatusUnauthorized, "invalid_client")
	// client_id naming another client than the assertion.
	f = s.assertionForm(assertion())
	f.Set("client_id", serviceID)
	wantError(t, s.post(oauth.TokenPath, f, "", ""), http.StatusUnauthorized, "invalid_client")
	// The private_key_jwt client cannot use a secret, even an empty one.
	cc := url.Values{"grant_type": {"client_credentials"}}
	wantError(t, s.post(oauth.TokenPath, cc, pkClientID, "anything"), http.StatusUnauthorized, "invalid_client")
	wantError(t, s.post(oauth.TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {pkClientID}}, "", ""),
		http.StatusUnauthorized, "invalid_client")
	// A secret client cannot use an assertion, even one signed with a
	// key registered for another client.
	other := sign(t, ec, jose.ES256, "ec", nil, s.pkClaims(func(c map[string]any) { c["iss"], c["sub"] = serviceID, serviceID }))
	wantError(t, s.pkToken(other), http.StatusUnauthorized, "invalid_client")
	// Existing secret clients authenticate as before.
	if res := s.post(oauth.TokenPath, cc, serviceID, serviceSecret); res.Status != http.StatusOK {
		t.Fatalf("secret client: %d %s", res.Status, res.Raw)
	}
}

// TestPrivateKeyJWTReplayAcrossInstances: an assertion used at one
// instance is refused at a second that shares Redis, also when both
// receive it at once.
func TestPrivateKeyJWTReplayAcrossInstances(t *testing.T) {
	s := newServer(t)
	s.registerPK(pkClientID, pkJWKS(t, "ec"), "")
	twin := newTwin(t, s)
	ec := pkKeys()["ec"]
	a := sign(t, ec, jose.ES256, "ec", nil, s.pkClaims(nil))
	if res := s.pkToken(a); res.Status != http.StatusOK {
		t.Fatalf("first instance: %d %s", res.Status, res.Raw)
	}
	wantError(t, twin.pkToken(a), http.StatusUnauthorized, "invalid_client")

	b := sign(t, ec, jose.ES256, "ec", nil, s.pkClaims(nil))
	answers := race(t, 8, func() (response, error) {
		return twin.tryPost(oauth.TokenPath, twin.assertionForm(b), "", "")
	})
	answers = append(answers, race(t, 8, func() (response, error) { return s.tryPost(oauth.TokenPath, s.assertionForm(b), "", "") })...)
	ok := 0
	for _, r := range answers {
		switch r.Status {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
		default:
			t.Fatalf("answer %d %s", r.Status, r.Raw)
		}
	}
	if ok != 1 {
		t.Fatalf("%d requests succeeded with one assertion, want 1", ok)
	}
}

// newTwin is a second instance of s's token endpoint: another handler
// built from the same dependencies, on another port, sharing s's Redis.
func newTwin(t *testing.T, s *server, middleware ...gin.HandlerFunc) *server {
	h, err := oauth.NewHandler(s.deps)
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.Use(middleware...)
	r.POST(oauth.TokenPath, oauth.RecordClientIP, gin.WrapF(h.Token))
	ts := httptest.NewServer(r)
	t.Cleanup(ts.Close)
	twin := *s
	twin.URL, twin.Handler = ts.URL, h
	return &twin
}

// TestPrivateKeyJWTAudited: a refused assertion is audited as a failed
// client authentication, naming the client and why, as a wrong secret is.
func TestPrivateKeyJWTAudited(t *testing.T) {
	s := newServer(t)
	s.registerPK(pkClientID, pkJWKS(t, "ec"), "")
	var buf syncBuffer
	log, err := audit.New(audit.Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	twin := newTwin(t, s, func(c *gin.Context) {
		c.Request = c.Request.WithContext(audit.NewContext(c.Request.Context(), log))
	})
	a := sign(t, pkKeys()["ec"], jose.ES256, "ec", nil, s.pkClaims(nil))
	if res := twin.pkToken(a); res.Status != http.StatusOK {
		t.Fatalf("first use: %d %s", res.Status, res.Raw)
	}
	if strings.Contains(buf.String(), audit.ClientAuthentication) {
		t.Fatalf("a success was audited as a failure: %s", buf.String())
	}
	wantError(t, twin.pkToken(a), http.StatusUnauthorized, "invalid_client")
	wantError(t, twin.post(oauth.TokenPath, url.Values{"grant_type": {"client_credentials"}}, serviceID, "wrong"), http.StatusUnauthorized, "invalid_client")
	var events []map[string]any
	for line := range strings.Lines(buf.String()) {
		var rec struct{ Audit map[string]any }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Audit["event"] == audit.ClientAuthentication {
			events = append(events, rec.Audit)
		}
	}
	if len(events) != 2 {
		t.Fatalf("%d client_authentication events, want 2: %s", len(events), buf.String())
	}
	if ev := events[0]; ev["outcome"] != audit.Failure || ev["client"] != pkClientID || !strings.Contains(ev["reason"].(string), "private_key_jwt: ") ||
		!strings.Contains(ev["reason"].(string), "jti") {
		t.Errorf("replay event = %v", ev)
	}
	if ev := events[1]; ev["client"] != serviceID || !strings.HasPrefix(ev["reason"].(string), "client_secret_basic") {
		t.Errorf("wrong-secret event = %v", ev)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestJSInteropPrivateKeyJWT: oauth4webapi, which nobody here wrote,
// authenticates a private_key_jwt client with assertions it signs
// itself, at the token, introspection and revocation endpoints; an
// assertion it signs with another key is refused.
func TestJSInteropPrivateKeyJWT(t *testing.T) {
	node := requireNode(t)
	s := newServer(t)
	s.registerPK(pkClientID, pkJWKS(t, "ec"), "")
	private, err := json.Marshal(jose.JSONWebKey{Key: pkKeys()["ec"], KeyID: "ec", Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsInteropDir, "pkjwt.mjs"), s.Issuer)
	cmd.Env = append(os.Environ(), "OAUTH2D_PK_CLIENT_ID="+pkClientID, "OAUTH2D_PK_PRIVATE_JWK="+string(private),
		"OAUTH2D_PK_SCOPE=comments:read")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var out struct {
		Error string `json:"error"`
		Steps map[string]struct {
			OK          bool   `json:"ok"`
			Error       string `json:"error"`
			Cause       string `json:"cause"`
			AccessToken string `json:"access_token"`
			Scope       string `json:"scope"`
			Active      bool   `json:"active"`
			ClientID    string `json:"client_id"`
			Status      int    `json:"status"`
			Body        map[string]any
			Methods     []string `json:"token_endpoint_auth_methods_supported"`
			Algs        []string `json:"token_endpoint_auth_signing_alg_values_supported"`
			Assertion   struct {
				Header  map[string]any `json:"header"`
				Payload map[string]any `json:"payload"`
			} `json:"assertion"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("pkjwt.mjs: %v (run: %v)\nstdout: %s\nstderr: %s", err, runErr, stdout.Bytes(), stderr.Bytes())
	}
	if out.Error != "" {
		t.Fatalf("pkjwt.mjs: %s\nstderr: %s", out.Error, stderr.Bytes())
	}
	for _, name := range []string{"discovery", "client_credentials", "introspection", "revocation", "unregistered_key"} {
		if st := out.Steps[name]; !st.OK {
			t.Errorf("step %s failed: %s (%s)", name, st.Error, st.Cause)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	d := out.Steps["discovery"]
	if !slices.Contains(d.Methods, "private_key_jwt") || !slices.Contains(d.Algs, "ES256") {
		t.Errorf("discovery: methods %v algs %v", d.Methods, d.Algs)
	}
	cc := out.Steps["client_credentials"]
	if cc.Scope != "comments:read" {
		t.Errorf("scope %q", cc.Scope)
	}
	// What the library sent: the issuer as a single string aud.
	if p := cc.Assertion.Payload; p["aud"] != s.Issuer || p["iss"] != pkClientID || p["sub"] != pkClientID || p["jti"] == nil {
		t.Errorf("the library's assertion: %v", p)
	}
	if in := out.Steps["introspection"]; !in.Active || in.ClientID != pkClientID {
		t.Errorf("introspection: active %v client %q", in.Active, in.ClientID)
	}
	if s.active(cc.AccessToken) {
		t.Error("the token the library revoked is still active")
	}
	if u := out.Steps["unregistered_key"]; u.Status != http.StatusUnauthorized || u.Body["error"] != "invalid_client" {
		t.Errorf("an assertion signed with an unregistered key: %d %v", u.Status, u.Body)
	}
}

// TestPrivateKeyJWTPushedAuthorization: the whole server (server.New, the
// route table) authenticates a private_key_jwt client at the PAR
// endpoint (RFC 9126 §2) and at the token endpoint, once per assertion.
func TestPrivateKeyJWTPushedAuthorization(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	c := &storage.Client{ID: pkClientID, TokenEndpointAuthMethod: storage.AuthMethodPrivateKeyJWT, JWKS: pkJWKS(t, "ec"),
		GrantTypes: []string{"authorization_code", "client_credentials"}, Scopes: []string{"openid", "comments:read"},
		RedirectURIs: []string{s.RedirectURI}}
	if err := s.Store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	h := &server{t: t, URL: s.URL, Issuer: s.Issuer}
	assertion := sign(t, pkKeys()["ec"], jose.ES256, "ec", nil, h.pkClaims(nil))
	params, _ := pushedRequest(pkClientID, "openid")
	params.Set("client_assertion_type", oauth.ClientAssertionTypeJWT)
	params.Set("client_assertion", assertion)
	pushOnce := func() answer {
		req, _ := http.NewRequest(http.MethodPost, s.URL+oauth.PushedAuthorizationPath, strings.NewReader(params.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return send(t, req)
	}
	if res := pushOnce(); res.status != http.StatusCreated || res.str("request_uri") == "" {
		t.Fatalf("push: %d %v", res.status, res.body)
	}
	if res := pushOnce(); res.status != http.StatusUnauthorized || res.str("error") != "invalid_client" {
		t.Fatalf("the same assertion pushed again: %d %v", res.status, res.body)
	}
	if res := h.pkToken(sign(t, pkKeys()["ec"], jose.ES256, "ec", nil, h.pkClaims(nil))); res.Status != http.StatusOK {
		t.Fatalf("token: %d %s", res.Status, res.Raw)
	}
	// Discovery says so.
	res := h.must(h.tryDo(mustRequest(t, http.MethodGet, s.URL+oauth.OAuthMetadataPath)))
	methods, _ := res.Body["token_endpoint_auth_methods_supported"].([]any)
	algs, _ := res.Body["token_endpoint_auth_signing_alg_values_supported"].([]any)
	if !slices.Contains(methods, any("private_key_jwt")) || !slices.Contains(algs, any("EdDSA")) || slices.Contains(algs, any("HS256")) {
		t.Fatalf("discovery: methods %v algs %v", methods, algs)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// BenchmarkPrivateKeyJWTToken: a client_credentials request
// authenticated by a fresh assertion (parse, key, signature, claims, one
// SET NX), end to end over HTTP, per algorithm.
func BenchmarkPrivateKeyJWTToken(b *testing.B) {
	s := newServer(b)
	s.registerPK(pkClientID, pkJWKS(b, "rsa", "ec", "ed"), "")
	for _, alg := range []struct {
		key string
		alg jose.SignatureAlgorithm
	}{{"ec", jose.ES256}, {"rsa", jose.RS256}, {"ed", jose.EdDSA}} {
		b.Run(string(alg.alg), func(b *testing.B) {
			assertions := make([]string, b.N)
			for i := range assertions {
				assertions[i] = sign(b, pkKeys()[alg.key], alg.alg, alg.key, nil, s.pkClaims(nil))
			}
			b.ResetTimer()
			for i := range b.N {
				if res := s.pkToken(assertions[i]); res.Status != http.StatusOK {
					b.Fatalf("%d %s", res.Status, res.Raw)
				}
			}
		})
	}
}
