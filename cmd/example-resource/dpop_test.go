package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/token"
)

// TestDPoPBoundTokens runs the documented DPoP checks against tokens
// oauth2d binds and proofs a client makes with go-jose.
func TestDPoPBoundTokens(t *testing.T) {
	_, minter, v := newOurIssuer(t)
	const base = "https://api.example.com"
	v.Proofs = &ProofChecker{BaseURL: base, Now: time.Now}
	key, thief := dpoptest.NewKey(t), dpoptest.NewKey(t)
	bound, _, err := minter.MintAccess(context.Background(), token.AccessRequest{Subject: "user-1", ClientID: "spa", Scope: []string{"profile"},
		Lifetime: time.Minute, JKT: key.Thumbprint(t)})
	if err != nil {
		t.Fatal(err)
	}
	bearer, _, _ := minter.MintAccess(context.Background(), token.AccessRequest{Subject: "user-1", ClientID: "web", Scope: []string{"profile"}, Lifetime: time.Minute})
	proof := func(k *dpoptest.Key, tok string) string {
		return k.Proof(t, dpoptest.For("GET", base+"/hello").WithToken(tok))
	}
	replayed := proof(key, bound)
	tests := []struct {
		name, scheme, tok, proof string
		status                   int
		errCode                  string
	}{
		{"bound token with its proof", "DPoP", bound, replayed, 200, ""},
		{"replayed proof", "DPoP", bound, replayed, 401, "invalid_dpop_proof"},
		{"bound token as Bearer", "Bearer", bound, "", 401, "invalid_token"},
		{"no proof", "DPoP", bound, "", 401, "invalid_dpop_proof"},
		{"thief's proof", "DPoP", bound, proof(thief, bound), 401, "invalid_dpop_proof"},
		{"proof for another token", "DPoP", bound, proof(key, bearer), 401, "invalid_dpop_proof"},
		{"bearer token with the DPoP scheme", "DPoP", bearer, proof(key, bearer), 401, "invalid_token"},
		{"bearer token as Bearer", "Bearer", bearer, "", 200, ""},
	}
	h := routes(v, "profile")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/hello", nil)
			req.Header.Set("Authorization", tc.scheme+" "+tc.tok)
			if tc.proof != "" {
				req.Header.Set("DPoP", tc.proof)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			chal := w.Header().Get("WWW-Authenticate")
			if w.Code != tc.status || tc.errCode != "" && !strings.Contains(chal, `error="`+tc.errCode+`"`) {
				t.Fatalf("got %d %q, want %d %s", w.Code, chal, tc.status, tc.errCode)
			}
		})
	}
}
