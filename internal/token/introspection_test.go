package token

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

// RFC 9701 §5: typ token-introspection+jwt, signed with the ID token key,
// iss, aud and iat at the top and the RFC 7662 answer inside; no sub or
// exp at the top.
func TestMintIntrospection(t *testing.T) {
	clock := newClock()
	set := newTestSet(t, AlgES256)
	m := newTestMinter(set, clock.Now)
	raw, err := m.MintIntrospection(context.Background(), "resource-server", json.RawMessage(`{"active":true,"sub":"user-1","exp":99}`))
	if err != nil {
		t.Fatal(err)
	}
	header := decodeSegment(t, raw, 0)
	rs, _ := set.Active(AlgRS256)
	if header["typ"] != IntrospectionTokenType || header["alg"] != AlgRS256 || header["kid"] != rs.ID() {
		t.Fatalf("header = %v, want typ %s, alg RS256, kid %s", header, IntrospectionTokenType, rs.ID())
	}
	want := map[string]any{
		"iss": testIssuer, "aud": "resource-server", "iat": num(testStart.Unix()),
		"token_introspection": map[string]any{"active": true, "sub": "user-1", "exp": num(99)},
	}
	if c := decodeSegment(t, raw, 1); !reflect.DeepEqual(c, want) {
		t.Fatalf("claims\n%v\nwant\n%v", c, want)
	}
	for name, bad := range map[string]struct {
		aud  string
		body string
	}{
		"no audience":       {"", `{"active":false}`},
		"not an object":     {"rs", `[true]`},
		"not JSON":          {"rs", `{"active":`},
		"empty answer":      {"rs", ``},
		"audience not UTF8": {"\xff", `{"active":false}`},
	} {
		if _, err := m.MintIntrospection(context.Background(), bad.aud, json.RawMessage(bad.body)); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
}
