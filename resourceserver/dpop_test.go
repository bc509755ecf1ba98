package resourceserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/resourceserver"
)

// A proof's htu is compared with the path the client sent, escapes and
// all (RFC 9449 §4.3 step 9): a %3F or %2F in it is not a query or a
// segment boundary, so a proof for /x/a does not pass at /x/a%3Fb, and a
// proof for /x/a%2Fb does.
func TestProofNamesTheEscapedPath(t *testing.T) {
	proofs, err := resourceserver.NewProofVerifier(resourceserver.DPoPConfig{Replay: acceptAll{}})
	if err != nil {
		t.Fatal(err)
	}
	rs, minter := localResource(t, resourceserver.Config{DPoP: proofs})
	policy := rs.Policy()
	key := dpoptest.NewKey(t)
	tok, _, _ := minter.MintAccess(context.Background(), token.AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Hour, JKT: key.Thumbprint(t)})
	for _, tc := range []struct {
		path, htu string
		ok        bool
	}{
		{"/x/a%3Fb", "https://i/x/a%3Fb", true},
		{"/x/a%3Fb", "https://i/x/a", false},
		{"/x/a%2Fb", "https://i/x/a%2Fb", true},
		{"/x/a%2Fb", "https://i/x/a/b", false},
		{"/x/a%20b", "https://i/x/a%20b", true},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", key.Proof(t, dpoptest.For("GET", tc.htu).WithToken(tok)))
		if w := serve(policy, req); (w.Code == http.StatusOK) != tc.ok {
			t.Errorf("request %s, proof for %s: %d %s, want accepted=%v", tc.path, tc.htu, w.Code, w.Header().Get("WWW-Authenticate"), tc.ok)
		}
	}
}

// TestDPoPNonces: with a nonce secret, a proof without the server's
// nonce is answered use_dpop_nonce with a DPoP-Nonce header, and a proof
// carrying that nonce passes (RFC 9449 §9).
func TestDPoPNonces(t *testing.T) {
	proofs, err := resourceserver.NewProofVerifier(resourceserver.DPoPConfig{NonceSecret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	rs, minter := localResource(t, resourceserver.Config{DPoP: proofs})
	key := dpoptest.NewKey(t)
	tok, _, _ := minter.MintAccess(context.Background(), token.AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Hour, JKT: key.Thumbprint(t)})
	request := func(proof dpoptest.Claims) *http.Request {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", key.Proof(t, proof))
		return req
	}
	w := serve(rs.Policy(), request(dpoptest.For("GET", "https://i/x").WithToken(tok)))
	nonce := w.Header().Get("DPoP-Nonce")
	if w.Code != 401 || nonce == "" || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("without a nonce: %d %q, nonce %q", w.Code, w.Header().Get("WWW-Authenticate"), nonce)
	}
	if w := serve(rs.Policy(), request(dpoptest.For("GET", "https://i/x").WithToken(tok).WithNonce(nonce))); w.Code != 200 {
		t.Fatalf("with the nonce: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

// TestMemoryReplayStore: a proof id is accepted once while remembered,
// and a full store refuses new ids rather than forget live ones.
func TestMemoryReplayStore(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	m := resourceserver.NewMemoryReplayStore(2, clock.Now)
	record := func(id string) (bool, error) { return m.RecordProof(t.Context(), id, time.Minute) }
	if ok, err := record("a"); !ok || err != nil {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, err := record("a"); ok || err != nil {
		t.Fatalf("replay: %v %v", ok, err)
	}
	if ok, _ := record("b"); !ok {
		t.Fatal("second id refused")
	}
	if ok, err := record("c"); ok || err == nil {
		t.Fatalf("full store took a third id: %v %v", ok, err)
	}
	clock.Advance(time.Minute)
	if ok, err := record("c"); !ok || err != nil {
		t.Fatalf("after the others expired: %v %v", ok, err)
	}
}
