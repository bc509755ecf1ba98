package token

import (
	"testing"
	"time"
)

// A DPoP-bound token carries cnf.jkt (RFC 9449 §6.1) and the verifier
// reads it back; a bearer token has no cnf at all.
func TestMintAccessConfirmation(t *testing.T) {
	clock := newClock()
	set := newTestSet(t, AlgES256)
	m := newTestMinter(set, clock.Now)
	v := newTestVerifier(t, set, clock)
	for _, jkt := range []string{"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", ""} {
		raw, minted, err := m.MintAccess(AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Minute, JKT: jkt})
		if err != nil {
			t.Fatal(err)
		}
		claims := decodeSegment(t, raw, 1)
		cnf, has := claims["cnf"].(map[string]any)
		if jkt == "" && has || jkt != "" && (!has || cnf["jkt"] != jkt) {
			t.Errorf("jkt %q: cnf claim = %v", jkt, claims["cnf"])
		}
		got, err := v.VerifyAccess(raw)
		if err != nil || got.JKT != jkt || minted.JKT != jkt {
			t.Errorf("jkt %q: verified %+v, minted %+v, %v", jkt, got, minted, err)
		}
	}
}
