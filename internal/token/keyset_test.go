package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestJWKSPublishesPublicMembersOnly(t *testing.T) {
	set, err := NewKeySet(AlgES256, AlgRS256)
	if err != nil {
		t.Fatal(err)
	}
	entries := []KeyEntry{
		{Key: newTestKey(t, AlgES256, 0), State: StateActive},
		{Key: newTestKey(t, AlgRS256, 0), State: StateActive},
		{Key: newTestKey(t, AlgES256, 0), State: StateNext},
		{Key: newTestKey(t, AlgPS256, 0), State: StateRetired, NotAfter: testStart.Add(time.Hour)},
		{Key: newTestKey(t, AlgEdDSA, 0), State: StateRetired},
	}
	if err := set.Replace(entries, testStart); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(set.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != len(entries) {
		t.Fatalf("JWKS has %d keys, want %d", len(doc.Keys), len(entries))
	}
	wantKty := map[string]string{AlgES256: "EC", AlgRS256: "RSA", AlgPS256: "RSA", AlgEdDSA: "OKP"}
	for _, jwk := range doc.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := jwk[private]; ok {
				t.Errorf("key %v publishes private member %q", jwk["kid"], private)
			}
		}
		alg, _ := jwk["alg"].(string)
		kid, _ := jwk["kid"].(string)
		if jwk["use"] != "sig" || kid == "" || jwk["kty"] != wantKty[alg] {
			t.Errorf("jwk %v: want use sig, a kid and kty %s", jwk, wantKty[alg])
		}
		if k, ok := set.Lookup(kid); !ok || k.Algorithm() != alg {
			t.Errorf("JWKS kid %s (%s) is not a key of the set", kid, alg)
		}
	}
}

func TestJWKSIsComputedOncePerChange(t *testing.T) {
	set := newTestSet(t, AlgES256)
	a, b := set.JWKS(), set.JWKS()
	if &a[0] != &b[0] {
		t.Fatal("JWKS marshalled again without a change")
	}
	before := string(a)
	if err := set.Replace(append(set.Entries(), KeyEntry{Key: newTestKey(t, AlgES256, 0), State: StateNext}), testStart); err != nil {
		t.Fatal(err)
	}
	if string(set.JWKS()) == before {
		t.Fatal("JWKS unchanged after a key was added")
	}
}

func TestReplace(t *testing.T) {
	es1, es2, rs := newTestKey(t, AlgES256, 0), newTestKey(t, AlgES256, 0), newTestKey(t, AlgRS256, 0)
	tests := []struct {
		name       string
		entries    []KeyEntry
		wantErr    error
		wantSigner *Key
		wantKIDs   []string
	}{
		{
			name:       "one active per alg",
			entries:    []KeyEntry{{Key: es1, State: StateActive}, {Key: rs, State: StateActive}, {Key: es2, State: StateNext}},
			wantSigner: es1, wantKIDs: []string{es1.ID(), rs.ID(), es2.ID()},
		},
		{
			name: "two active: the latest activated signs",
			entries: []KeyEntry{
				{Key: es1, State: StateActive, ActivatedAt: testStart.Add(-time.Hour)},
				{Key: es2, State: StateActive, ActivatedAt: testStart},
				{Key: rs, State: StateActive},
			},
			wantSigner: es2, wantKIDs: []string{es1.ID(), es2.ID(), rs.ID()},
		},
		{
			name: "expired retired key is dropped, live one kept",
			entries: []KeyEntry{
				{Key: es1, State: StateActive}, {Key: rs, State: StateActive},
				{Key: es2, State: StateRetired, NotAfter: testStart},
			},
			wantSigner: es1, wantKIDs: []string{es1.ID(), rs.ID()},
		},
		{
			name:    "no active key for the access alg",
			entries: []KeyEntry{{Key: es1, State: StateNext}, {Key: rs, State: StateActive}},
			wantErr: ErrNoActiveKey,
		},
		{
			name:    "no active key for id tokens",
			entries: []KeyEntry{{Key: es1, State: StateActive}, {Key: rs, State: StateRetired}},
			wantErr: ErrNoActiveKey,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := newTestSet(t, AlgES256)
			before := string(set.JWKS())
			err := set.Replace(tc.entries, testStart)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if string(set.JWKS()) != before {
					t.Fatal("a failed Replace changed the set")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := set.Active(AlgES256); got != tc.wantSigner {
				t.Fatalf("signer = %s, want %s", got.ID(), tc.wantSigner.ID())
			}
			var kids []string
			for _, e := range set.Entries() {
				kids = append(kids, e.Key.ID())
			}
			slices.Sort(kids)
			slices.Sort(tc.wantKIDs)
			if !slices.Equal(kids, tc.wantKIDs) {
				t.Fatalf("published %v, want %v", kids, tc.wantKIDs)
			}
		})
	}
}

func TestReplaceRejectsBadEntries(t *testing.T) {
	es, rs := newTestKey(t, AlgES256, 0), newTestKey(t, AlgRS256, 0)
	tests := []struct {
		name    string
		entries []KeyEntry
		wantErr string
	}{
		{
			"duplicate kid", []KeyEntry{{Key: es, State: StateActive}, {Key: rs, State: StateActive}, {Key: es, State: StateNext}},
			"token: key " + es.ID() + " appears twice",
		},
		{
			"unknown state", []KeyEntry{{Key: es, State: StateActive}, {Key: rs, State: "revoked"}},
			"token: key " + rs.ID() + ` has unknown state "revoked"`,
		},
		{"nil key", []KeyEntry{{Key: es, State: StateActive}, {State: StateActive}}, "token: key entry without a key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := newTestSet(t, AlgES256)
			before := string(set.JWKS())
			checkErrorText(t, set.Replace(tc.entries, testStart), tc.wantErr)
			if string(set.JWKS()) != before {
				t.Fatal("a failed Replace changed the set")
			}
		})
	}
}

func TestNewKeySetRejectsAlgorithms(t *testing.T) {
	for _, alg := range []string{"", "none", "HS256", "ES384"} {
		if _, err := NewKeySet(alg, AlgRS256); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("NewKeySet(%q) err = %v, want ErrUnsupportedAlgorithm", alg, err)
		}
	}
}

// TestJWKSMembersPerAlgorithm pins every member a resource server reads
// from our JWKS, computed here from the public key without go-jose, so a
// change of JWK library cannot silently change what we publish.
func TestJWKSMembersPerAlgorithm(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			k := newTestKey(t, alg, 0)
			set, err := NewKeySet(alg, alg)
			if err != nil {
				t.Fatal(err)
			}
			if err := set.Replace([]KeyEntry{{Key: k, State: StateActive}}, testStart); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"kid": k.ID(), "alg": alg, "use": "sig"}
			switch pub := k.Public().(type) {
			case *ecdsa.PublicKey:
				point, err := pub.Bytes() // 0x04 || X || Y
				if err != nil {
					t.Fatal(err)
				}
				want["kty"], want["crv"], want["x"], want["y"] = "EC", "P-256", b64(point[1:33]), b64(point[33:])
			case *rsa.PublicKey:
				want["kty"], want["n"], want["e"] = "RSA", b64(pub.N.Bytes()), "AQAB"
			case ed25519.PublicKey:
				want["kty"], want["crv"], want["x"] = "OKP", "Ed25519", b64(pub)
			default:
				t.Fatalf("unexpected public key %T", pub)
			}
			var doc struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(set.JWKS(), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Keys) != 1 || !reflect.DeepEqual(doc.Keys[0], want) {
				t.Fatalf("JWKS = %s\nwant one key %v", set.JWKS(), want)
			}
		})
	}
}
