package resource_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

// dpopInstance starts an instance that accepts DPoP, its replay guard on
// its own connection to the harness's Redis prefix, as every oauth2d
// instance has.
func (h *harness) dpopInstance(nonces *dpop.Nonces) *instance {
	t := h.t
	t.Helper()
	store, err := storage.Open(h.ctx, storage.Options{URL: h.rs.URL, Prefix: h.rs.Prefix, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	v, err := dpop.NewVerifier(dpop.Options{Replay: store, Nonces: nonces, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h.newInstance(func(o *resource.Options) { o.DPoP = v })
}

// boundToken mints alice's token bound to key.
func (h *harness) boundToken(key *dpoptest.Key, scopes ...string) string {
	raw, _ := h.mint(token.AccessRequest{Subject: h.alice.ID, ClientID: webClient, Scope: scopes, Roles: h.alice.Roles,
		Lifetime: tokenTTL, JKT: key.Thumbprint(h.t)})
	return raw
}

// doDPoP sends GET path with `Authorization: <scheme> tok` and the proofs.
func (in *instance) doDPoP(t testing.TB, path, scheme, tok string, proofs ...string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if tok != "" {
		req.Header.Set("Authorization", scheme+" "+tok)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return in.serve(t, req)
}

func apiProof(t testing.TB, key *dpoptest.Key, path, tok string) string {
	return key.Proof(t, dpoptest.For(http.MethodGet, testIssuer+path).WithToken(tok))
}

// TestDPoPAtTheAPI covers RFC 9449 §7 at the built-in API and the
// resource-side attacks of issue 12 item 6.
func TestDPoPAtTheAPI(t *testing.T) {
	h := newHarness(t, token.AlgES256)
	in := h.dpopInstance(nil)
	key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	const me = "/api/v1/me"
	tok := h.boundToken(key, "profile")
	bearer, _ := h.userToken(h.alice, "profile")
	replayed := apiProof(t, key, me, tok)
	if res := in.doDPoP(t, me, "DPoP", tok, replayed); res.Code != http.StatusOK {
		t.Fatalf("bound token with its proof: %d %s", res.Code, res.Body)
	}
	if res := in.doDPoP(t, me, "dpop", tok, apiProof(t, key, me, tok)); res.Code != http.StatusOK {
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
		{"proof without ath", "DPoP", tok, []string{key.Proof(t, dpoptest.For("GET", testIssuer+me))}, 401, "invalid_dpop_proof"},
		{"proof for another token", "DPoP", tok, []string{apiProof(t, key, me, bearer)}, 401, "invalid_dpop_proof"},
		{"proof for another htu", "DPoP", tok, []string{apiProof(t, key, "/api/v1/comments", tok)}, 401, "invalid_dpop_proof"},
		{"proof for another htm", "DPoP", tok, []string{key.Proof(t, dpoptest.For("POST", testIssuer+me).WithToken(tok))}, 401, "invalid_dpop_proof"},
		{"old proof", "DPoP", tok, []string{key.Proof(t, dpoptest.For("GET", testIssuer+me).WithToken(tok).At(time.Now().Add(-time.Hour)))}, 401, "invalid_dpop_proof"},
		{"bearer token with the DPoP scheme", "DPoP", bearer, []string{apiProof(t, key, me, bearer)}, 401, "invalid_token"},
		{"missing scope", "DPoP", h.boundToken(key, "comments:read"), nil, 403, "insufficient_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proofs := tc.proofs
			if tc.code == "insufficient_scope" {
				proofs = []string{apiProof(t, key, me, tc.tok)}
			}
			res := in.doDPoP(t, me, tc.scheme, tc.tok, proofs...)
			chal := res.Header().Get("WWW-Authenticate")
			if res.Code != tc.status || res.JSON["error"] != tc.code {
				t.Fatalf("got %d %s, want %d %s", res.Code, res.Body, tc.status, tc.code)
			}
			if !strings.HasPrefix(chal, `DPoP realm="`+testIssuer+`", algs="`) || !strings.Contains(chal, `error="`+tc.code+`"`) {
				t.Fatalf("WWW-Authenticate = %q, want a DPoP challenge with error %s", chal, tc.code)
			}
		})
	}
	t.Run("no credentials: both schemes offered", func(t *testing.T) {
		res := in.doDPoP(t, me, "", "")
		chals := res.Header().Values("WWW-Authenticate")
		if res.Code != 401 || len(chals) != 2 || chals[0] != `Bearer realm="`+testIssuer+`"` || !strings.HasPrefix(chals[1], `DPoP realm="`+testIssuer+`", algs="ES256`) {
			t.Fatalf("got %d %q", res.Code, chals)
		}
	})
	t.Run("bearer tokens unchanged", func(t *testing.T) {
		if res := in.do(t, http.MethodGet, me, bearer, nil); res.Code != http.StatusOK {
			t.Fatalf("bearer token: %d %s", res.Code, res.Body)
		}
	})
}

// Without DPoP configured, a bound token is still refused as a bearer
// token, and the DPoP scheme is unknown.
func TestDPoPOff(t *testing.T) {
	h := newHarness(t, token.AlgES256)
	key := dpoptest.NewKey(t)
	tok := h.boundToken(key, "profile")
	if res := h.do(t, http.MethodGet, "/api/v1/me", tok, nil); res.Code != 401 || res.JSON["error"] != "invalid_token" {
		t.Fatalf("bound token as Bearer: %d %s", res.Code, res.Body)
	}
	if res := h.doDPoP(t, "/api/v1/me", "DPoP", tok, apiProof(t, key, "/api/v1/me", tok)); res.Code != 401 || res.JSON != nil {
		t.Fatalf("DPoP scheme with DPoP off: %d %s, want 401 without an error", res.Code, res.Body)
	}
}

func TestDPoPNonceAtTheAPI(t *testing.T) {
	h := newHarness(t, token.AlgES256)
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("n", 32)), time.Minute, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	in := h.dpopInstance(nonces)
	key := dpoptest.NewKey(t)
	tok := h.boundToken(key, "profile")
	res := in.doDPoP(t, "/api/v1/me", "DPoP", tok, apiProof(t, key, "/api/v1/me", tok))
	nonce := res.Header().Get("DPoP-Nonce")
	if res.Code != 401 || res.JSON["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce: %d %s (DPoP-Nonce %q)", res.Code, res.Body, nonce)
	}
	proof := key.Proof(t, dpoptest.For("GET", testIssuer+"/api/v1/me").WithToken(tok).WithNonce(nonce))
	if res := in.doDPoP(t, "/api/v1/me", "DPoP", tok, proof); res.Code != http.StatusOK {
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
			h := newHarnessOn(t, topo.rs(t))
			a, b := h.dpopInstance(nil), h.dpopInstance(nil)
			key := dpoptest.NewKey(t)
			tok := h.boundToken(key, "profile")
			proof := apiProof(t, key, "/api/v1/me", tok)
			if res := a.doDPoP(t, "/api/v1/me", "DPoP", tok, proof); res.Code != http.StatusOK {
				t.Fatalf("first instance: %d %s", res.Code, res.Body)
			}
			if res := b.doDPoP(t, "/api/v1/me", "DPoP", tok, proof); res.Code != 401 || res.JSON["error"] != "invalid_dpop_proof" {
				t.Fatalf("replay on the second instance: %d %s", res.Code, res.Body)
			}
		})
	}
}

// newHarnessOn is newHarness on a given Redis (the Cluster), with alice.
func newHarnessOn(t testing.TB, rs *testredis.Server) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, rs: rs, Keys: keySet(t, token.AlgES256), Clock: &clock{}, ctx: ctx}
	h.Minter = token.NewMinter(h.Keys, testIssuer, []string{testAudience}, h.Clock.Now)
	h.instance = h.newInstance()
	h.alice = &storage.User{Username: "alice", PasswordHash: "x", Roles: []string{"user"}}
	if err := h.Store.CreateUser(ctx, h.alice); err != nil {
		t.Fatal(err)
	}
	return h
}
