package resource

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/token"
)

// A proof's htu is compared with the path the client sent, escapes and
// all (RFC 9449 §4.3 step 9): a %3F or %2F in it is not a query or a
// segment boundary, so a proof for /x/a does not pass at /x/a%3Fb, and a
// proof for /x/a%2Fb does.
func TestProofNamesTheEscapedPath(t *testing.T) {
	proofs, _ := dpop.NewVerifier(dpop.Options{Replay: acceptAll{}})
	a, minter := dpopAuthenticator(t, proofs)
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
		if _, f := a.authenticate(req); (f == nil) != tc.ok {
			t.Errorf("request %s, proof for %s: failure %v, want accepted=%v", tc.path, tc.htu, f, tc.ok)
		}
	}
}
