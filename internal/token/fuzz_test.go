package token

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzVerifyAccess: access-token verification (seed corpus in
// testdata/fuzz/FuzzVerifyAccess; .ci/run runs it for a bounded time).
//   - A token minted from the fuzzed claims verifies and gives the same
//     claims back (round trip).
//   - Any string that verifies is, byte for byte, a token this process
//     minted: no second encoding, no high-S twin, no forged token.
func FuzzVerifyAccess(f *testing.F) {
	clock := newClock()
	set := newTestSet(f, AlgES256)
	minter := newTestMinter(set, clock.Now)
	v := newTestVerifier(f, set, clock)
	var mu sync.Mutex
	minted := map[string]bool{}
	mint := func(t testing.TB, req AccessRequest) (string, AccessClaims) {
		raw, claims, err := minter.MintAccess(context.Background(), req)
		if err != nil {
			if strings.Contains(err.Error(), "UTF-8") && !validUTF8(append([]string{req.Subject, req.ClientID}, req.Scope...)...) {
				return "", AccessClaims{}
			}
			t.Fatal(err)
		}
		mu.Lock()
		minted[raw] = true
		mu.Unlock()
		return raw, claims
	}
	seed, _ := mint(f, AccessRequest{Subject: "user-1", ClientID: "client-1", Lifetime: time.Minute})
	f.Add(seed, "user-1", "client-1", "openid profile")
	f.Add(seed+"=", "u", "c", "")
	f.Add(strings.Replace(seed, ".", "..", 1), "u", "c", "a b")
	f.Fuzz(func(t *testing.T, raw, sub, clientID, scope string) {
		if claims, err := v.VerifyAccess(raw); err == nil {
			mu.Lock()
			ok := minted[raw]
			mu.Unlock()
			if !ok {
				t.Fatalf("verified a token this process never minted: %q (claims %+v)", raw, claims)
			}
		}
		if sub == "" || clientID == "" || len(sub) > 256 || len(clientID) > 256 || len(scope) > 1024 {
			return
		}
		req := AccessRequest{Subject: sub, ClientID: clientID, Scope: strings.Fields(scope), Lifetime: time.Minute}
		tok, want := mint(t, req)
		if tok == "" {
			return // refused: invalid UTF-8
		}
		got, err := v.VerifyAccess(tok)
		if err != nil {
			t.Fatalf("a minted token does not verify: %v", err)
		}
		if got.Subject != want.Subject || got.ClientID != want.ClientID || !slices.Equal(got.Scope, want.Scope) ||
			got.JTI != want.JTI || !got.ExpiresAt.Equal(want.ExpiresAt) || !slices.Equal(got.Audience, want.Audience) {
			t.Fatalf("round trip: minted %+v, verified %+v", want, got)
		}
	})
}
