package resourceserver_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/resourceserver"
)

// tokensOf is a Verifier that knows a fixed set of tokens.
type tokensOf map[string]*resourceserver.Claims

func (v tokensOf) VerifyAccess(raw string) (*resourceserver.Claims, error) {
	if c, ok := v[raw]; ok {
		return c, nil
	}
	return nil, resourceserver.ErrInvalidToken
}

func bearer(raw string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("Authorization", "Bearer "+raw)
	return r
}

// TestStepUp: ACR and MaxAge answer RFC 9470 §3 challenges, and a token
// that does not say is not enough.
func TestStepUp(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	claims := func(acr string, authAge time.Duration) *resourceserver.Claims {
		c := &resourceserver.Claims{Subject: "u", ClientID: "c", JTI: acr + authAge.String(), Scope: []string{"pay"},
			IssuedAt: now, ExpiresAt: now.Add(time.Hour), ACR: acr}
		if authAge >= 0 {
			c.AuthTime = now.Add(-authAge)
		}
		return c
	}
	tokens := tokensOf{
		"mfa-fresh": claims("mfa", time.Minute), "mfa-old": claims("mfa", time.Hour),
		"pwd-fresh": claims("pwd", time.Minute), "silent": claims("", -1),
	}
	rs, err := resourceserver.New(resourceserver.Config{Realm: "https://i", Verifier: tokens,
		ResourceMetadataURL: "https://api.example/.well-known/oauth-protected-resource", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const realm, md = `Bearer realm="https://i", error="insufficient_user_authentication", error_description="the user must authenticate again, as this request requires"`,
		`, resource_metadata="https://api.example/.well-known/oauth-protected-resource"`
	both := rs.Policy(resourceserver.Scopes("pay"), resourceserver.ACR("mfa", "hwk"), resourceserver.MaxAge(5*time.Minute))
	tests := []struct {
		name, token string
		policy      *resourceserver.Policy
		status      int
		challenge   string
	}{
		{"acr and recent", "mfa-fresh", both, 200, ""},
		{"acr, too old", "mfa-old", both, 401, realm + `, acr_values="mfa hwk", max_age="300"` + md},
		{"wrong acr", "pwd-fresh", both, 401, realm + `, acr_values="mfa hwk", max_age="300"` + md},
		{"no acr nor auth_time", "silent", both, 401, realm + `, acr_values="mfa hwk", max_age="300"` + md},
		{"max age only, absent auth_time", "silent", rs.Policy(resourceserver.MaxAge(time.Hour)), 401, realm + `, max_age="3600"` + md},
		{"acr only, absent acr", "silent", rs.Policy(resourceserver.ACR("mfa")), 401, realm + `, acr_values="mfa"` + md},
		{"acr only", "mfa-old", rs.Policy(resourceserver.ACR("mfa")), 200, ""},
		{"scope before step up", "pwd-fresh", rs.Policy(resourceserver.Scopes("admin"), resourceserver.ACR("mfa")), 403,
			`Bearer realm="https://i", error="insufficient_scope", error_description="the access token lacks a scope this request requires", scope="admin"`},
		{"no token names the metadata", "", both, 401, `Bearer realm="https://i"` + md},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := bearer(tc.token)
			if tc.token == "" {
				req.Header.Del("Authorization")
			}
			w := serve(tc.policy, req)
			if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("got %d %q\nwant %d %q", w.Code, w.Header().Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
		})
	}
}

// TestRequireDPoP: a resource that requires DPoP refuses bearer tokens
// and offers only the DPoP scheme.
func TestRequireDPoP(t *testing.T) {
	now := time.Now()
	tokens := tokensOf{"plain": {Subject: "u", ClientID: "c", JTI: "j", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}
	proofs, err := resourceserver.NewProofVerifier(resourceserver.DPoPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resourceserver.New(resourceserver.Config{Realm: "https://i", Verifier: tokens, RequireDPoP: true}); err == nil {
		t.Fatal("RequireDPoP without a proof verifier was accepted")
	}
	rs, err := resourceserver.New(resourceserver.Config{Realm: "https://i", Verifier: tokens, DPoP: proofs, RequireDPoP: true})
	if err != nil {
		t.Fatal(err)
	}
	w := serve(rs.Policy(), bearer("plain"))
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `DPoP realm="https://i", algs="ES256 ES384 PS256 RS256 EdDSA", error="invalid_token", error_description="this resource accepts only DPoP-bound access tokens"` {
		t.Fatalf("bearer token: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	w = serve(rs.Policy(), httptest.NewRequest(http.MethodGet, "/x", nil))
	if chals := w.Header().Values("WWW-Authenticate"); w.Code != 401 || len(chals) != 1 || chals[0] != `DPoP realm="https://i", algs="ES256 ES384 PS256 RS256 EdDSA"` {
		t.Fatalf("no token: %d %q", w.Code, chals)
	}
}

// TestClaimsOfAnotherResource: claims one Resource verified are not taken
// by another on the same route (another audience verifies again), while a
// second policy of the same Resource reuses them.
func TestClaimsOfAnotherResource(t *testing.T) {
	now := time.Now()
	counted := &countingVerifier{tokens: tokensOf{"t": {Subject: "u", ClientID: "c", JTI: "j", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}}}
	first, _ := resourceserver.New(resourceserver.Config{Realm: "https://i", Verifier: counted})
	refusing, _ := resourceserver.New(resourceserver.Config{Realm: "https://i", Verifier: tokensOf{}})
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	w := httptest.NewRecorder()
	first.Require()(first.Require()(ok)).ServeHTTP(w, bearer("t"))
	if w.Code != 200 || counted.calls != 1 {
		t.Fatalf("same resource twice: %d after %d verifications, want 200 after 1", w.Code, counted.calls)
	}
	w = httptest.NewRecorder()
	first.Require()(refusing.Require()(ok)).ServeHTTP(w, bearer("t"))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("another resource took the first one's claims: %d", w.Code)
	}
}

type countingVerifier struct {
	tokens tokensOf
	calls  int
}

func (v *countingVerifier) VerifyAccess(raw string) (*resourceserver.Claims, error) {
	v.calls++
	return v.tokens.VerifyAccess(raw)
}

// TestAudience: a route of one resource refuses a token of another as
// invalid_token, before any scope check.
func TestAudience(t *testing.T) {
	now := time.Now()
	tokens := tokensOf{
		"api":   {Subject: "u", ClientID: "c", JTI: "1", Audience: []string{"https://i/api"}, Scope: []string{"admin"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
		"admin": {Subject: "u", ClientID: "c", JTI: "2", Audience: []string{"https://i/admin", "https://i/x"}, Scope: []string{"admin"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
	}
	rs, _ := resourceserver.New(resourceserver.Config{Realm: "https://i", Verifier: tokens})
	policy := rs.Policy(resourceserver.Audience("https://i/admin"), resourceserver.Scopes("admin"))
	if w := serve(policy, bearer("admin")); w.Code != 200 {
		t.Fatalf("the resource's own token: %d", w.Code)
	}
	if w := serve(policy, bearer("api")); w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("another resource's token: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

// TestResourceMetadataPerRoute: a Resource serving several resources
// names, on each route, that route's metadata document in its 401
// challenges, and the Config's elsewhere.
func TestResourceMetadataPerRoute(t *testing.T) {
	rs, err := resourceserver.New(resourceserver.Config{Realm: "https://i", Verifier: tokensOf{},
		ResourceMetadataURL: "https://i/.well-known/oauth-protected-resource/api"})
	if err != nil {
		t.Fatal(err)
	}
	admin := rs.Policy(resourceserver.ResourceMetadata("https://i/.well-known/oauth-protected-resource/admin"))
	for _, tc := range []struct {
		policy    *resourceserver.Policy
		token     string
		challenge string
	}{
		{admin, "", `Bearer realm="https://i", resource_metadata="https://i/.well-known/oauth-protected-resource/admin"`},
		{admin, "forged", `Bearer realm="https://i", error="invalid_token", error_description="the access token is invalid or expired", resource_metadata="https://i/.well-known/oauth-protected-resource/admin"`},
		{rs.Policy(), "", `Bearer realm="https://i", resource_metadata="https://i/.well-known/oauth-protected-resource/api"`},
	} {
		req := bearer(tc.token)
		if tc.token == "" {
			req.Header.Del("Authorization")
		}
		if w := serve(tc.policy, req); w.Code != 401 || w.Header().Get("WWW-Authenticate") != tc.challenge {
			t.Errorf("got %d %q\nwant 401 %q", w.Code, w.Header().Get("WWW-Authenticate"), tc.challenge)
		}
	}
}
