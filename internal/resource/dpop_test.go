package resource_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

// dpopInstance starts an instance that accepts DPoP, its replay guard on
// its own connection to the harness's Redis prefix, as every oauth2d
// instance has.
func dpopInstance(t testing.TB, h *resourcetest.Harness, nonces *dpop.Nonces) *resourcetest.Instance {
	t.Helper()
	store, err := storage.Open(h.Ctx, storage.Options{URL: h.Redis.URL, Prefix: h.Redis.Prefix, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	v, err := dpop.NewVerifier(dpop.Options{Replay: store, Nonces: nonces, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h.NewInstance(t, func(o *resource.Options) { o.DPoP = v })
}

// boundToken mints alice's token bound to key.
func boundToken(t testing.TB, h *resourcetest.Harness, key *dpoptest.Key, scopes ...string) string {
	t.Helper()
	raw, _ := h.Mint(t, token.AccessRequest{Subject: h.Alice.ID, ClientID: resourcetest.WebClient, Scope: scopes,
		Roles: h.Alice.Roles, Lifetime: resourcetest.TokenTTL, JKT: key.Thumbprint(t)})
	return raw
}

// doDPoP sends GET path with `Authorization: <scheme> tok` and the proofs.
func doDPoP(t testing.TB, in *resourcetest.Instance, path, scheme, tok string, proofs ...string) testenv.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if tok != "" {
		req.Header.Set("Authorization", scheme+" "+tok)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return in.Serve(t, req)
}

func apiProof(t testing.TB, key *dpoptest.Key, path, tok string) string {
	return key.Proof(t, dpoptest.For(http.MethodGet, resourcetest.Issuer+path).WithToken(tok))
}

// TestDPoPAtTheAPI covers RFC 9449 §7 at the built-in API and the
// resource-side attacks of issue 12 item 6.
func TestDPoPAtTheAPI(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	in := dpopInstance(t, h, nil)
	key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	const me = "/api/v1/me"
	tok := boundToken(t, h, key, "profile")
	bearer, _ := h.UserToken(t, h.Alice, "profile")
	replayed := apiProof(t, key, me, tok)
	if res := doDPoP(t, in, me, "DPoP", tok, replayed); res.Code != http.StatusOK {
		t.Fatalf("bound token with its proof: %d %s", res.Code, res.Body)
	}
	if res := doDPoP(t, in, me, "dpop", tok, apiProof(t, key, me, tok)); res.Code != http.StatusOK {
		t.Fatalf("the scheme is case-insensitive: %d %s", res.Code, res.Body)
	}
	cases := []struct {
		name   string
		scheme string
		tok    string
		proofs []string
		status int
		code   string
	}{
		{"replayed proof", "DPoP", tok, []string{replayed}, 401, "invalid_dpop_proof"},
		{"bound token as Bearer", "Bearer", tok, nil, 401, "invalid_token"},
		{"bound token as Bearer with a proof", "Bearer", tok, []string{apiProof(t, key, me, tok)}, 401, "invalid_token"},
		{"no proof", "DPoP", tok, nil, 401, "invalid_dpop_proof"},
		{"two proofs", "DPoP", tok, []string{apiProof(t, key, me, tok), apiProof(t, key, me, tok)}, 401, "invalid_dpop_proof"},
		{"proof by another key", "DPoP", tok, []string{apiProof(t, other, me, tok)}, 401, "invalid_token"},
		{"proof without ath", "DPoP", tok, []string{key.Proof(t, dpoptest.For("GET", resourcetest.Issuer+me))}, 401, "invalid_dpop_proof"},
		{"proof for another token", "DPoP", tok, []string{apiProof(t, key, me, bearer)}, 401, "invalid_dpop_proof"},
		{"proof for another htu", "DPoP", tok, []string{apiProof(t, key, "/api/v1/comments", tok)}, 401, "invalid_dpop_proof"},
		{"proof for another htm", "DPoP", tok, []string{key.Proof(t, dpoptest.For("POST", resourcetest.Issuer+me).WithToken(tok))}, 401, "invalid_dpop_proof"},
		{"old proof", "DPoP", tok, []string{key.Proof(t, dpoptest.For("GET", resourcetest.Issuer+me).WithToken(tok).At(time.Now().Add(-time.Hour)))}, 401, "invalid_dpop_proof"},
		{"bearer token with the DPoP scheme", "DPoP", bearer, []string{apiProof(t, key, me, bearer)}, 401, "invalid_token"},
		{"missing scope", "DPoP", boundToken(t, h, key, "comments:read"), nil, 403, "insufficient_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proofs := tc.proofs
			if tc.code == "insufficient_scope" {
				proofs = []string{apiProof(t, key, me, tc.tok)}
			}
			res := doDPoP(t, in, me, tc.scheme, tc.tok, proofs...)
			chal := res.Header().Get("WWW-Authenticate")
			if res.Code != tc.status || res.JSON["error"] != tc.code {
				t.Fatalf("got %d %s, want %d %s", res.Code, res.Body, tc.status, tc.code)
			}
			if !strings.HasPrefix(chal, `DPoP realm="`+resourcetest.Issuer+`", algs="`) || !strings.Contains(chal, `error="`+tc.code+`"`) {
				t.Fatalf("WWW-Authenticate = %q, want a DPoP challenge with error %s", chal, tc.code)
			}
		})
	}
	t.Run("no credentials: both schemes offered", func(t *testing.T) {
		res := doDPoP(t, in, me, "", "")
		chals := res.Header().Values("WWW-Authenticate")
		if res.Code != 401 || len(chals) != 2 || chals[0] != `Bearer realm="`+resourcetest.Issuer+`"` || !strings.HasPrefix(chals[1], `DPoP realm="`+resourcetest.Issuer+`", algs="ES256`) {
			t.Fatalf("got %d %q", res.Code, chals)
		}
	})
	t.Run("bearer tokens unchanged", func(t *testing.T) {
		if res := in.Do(t, http.MethodGet, me, bearer, nil); res.Code != http.StatusOK {
			t.Fatalf("bearer token: %d %s", res.Code, res.Body)
		}
	})
}

// Without DPoP configured, a bound token is still refused as a bearer
// token, and the DPoP scheme is unknown.
func TestDPoPOff(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	key := dpoptest.NewKey(t)
	tok := boundToken(t, h, key, "profile")
	if res := h.Do(t, http.MethodGet, "/api/v1/me", tok, nil); res.Code != 401 || res.JSON["error"] != "invalid_token" {
		t.Fatalf("bound token as Bearer: %d %s", res.Code, res.Body)
	}
	if res := doDPoP(t, h.Instance, "/api/v1/me", "DPoP", tok, apiProof(t, key, "/api/v1/me", tok)); res.Code != 401 || res.JSON != nil {
		t.Fatalf("DPoP scheme with DPoP off: %d %s, want 401 without an error", res.Code, res.Body)
	}
}

func TestDPoPNonceAtTheAPI(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("n", 32)), time.Minute, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	in := dpopInstance(t, h, nonces)
	key := dpoptest.NewKey(t)
	tok := boundToken(t, h, key, "profile")
	res := doDPoP(t, in, "/api/v1/me", "DPoP", tok, apiProof(t, key, "/api/v1/me", tok))
	nonce := res.Header().Get("DPoP-Nonce")
	if res.Code != 401 || res.JSON["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce: %d %s (DPoP-Nonce %q)", res.Code, res.Body, nonce)
	}
	proof := key.Proof(t, dpoptest.For("GET", resourcetest.Issuer+"/api/v1/me").WithToken(tok).WithNonce(nonce))
	if res := doDPoP(t, in, "/api/v1/me", "DPoP", tok, proof); res.Code != http.StatusOK {
		t.Fatalf("with the nonce: %d %s", res.Code, res.Body)
	}
}

// TestDPoPReplayOnAnotherInstance: a proof accepted by one instance is
// refused by another sharing the Redis, standalone and Cluster alike.
func TestDPoPReplayOnAnotherInstance(t *testing.T) {
	for _, topo := range []struct {
		name string
		rs   func(testing.TB) *testredis.Server
	}{{"standalone", testredis.New}, {"cluster", testredis.Cluster}} {
		t.Run(topo.name, func(t *testing.T) {
			h := resourcetest.NewOn(t, topo.rs(t), token.AlgES256)
			a, b := dpopInstance(t, h, nil), dpopInstance(t, h, nil)
			key := dpoptest.NewKey(t)
			tok := boundToken(t, h, key, "profile")
			proof := apiProof(t, key, "/api/v1/me", tok)
			if res := doDPoP(t, a, "/api/v1/me", "DPoP", tok, proof); res.Code != http.StatusOK {
				t.Fatalf("first instance: %d %s", res.Code, res.Body)
			}
			if res := doDPoP(t, b, "/api/v1/me", "DPoP", tok, proof); res.Code != 401 || res.JSON["error"] != "invalid_dpop_proof" {
				t.Fatalf("replay on the second instance: %d %s", res.Code, res.Body)
			}
		})
	}
}
