package token

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// OIDC Back-Channel Logout 1.0 §2.4.
func TestMintLogout(t *testing.T) {
	clock := newClock()
	set := newTestSet(t, AlgES256)
	m := newTestMinter(set, clock.Now)
	raw, err := m.MintLogout(context.Background(), LogoutClaims{Audience: "client-1", Subject: "user-1", SessionID: "sid-1", JTI: "j-1"})
	if err != nil {
		t.Fatal(err)
	}
	header := decodeSegment(t, raw, 0)
	rs, _ := set.Active(AlgRS256)
	if header["typ"] != "logout+jwt" || header["alg"] != AlgRS256 || header["kid"] != rs.ID() {
		t.Fatalf("header = %v, want typ logout+jwt, alg RS256, kid %s", header, rs.ID())
	}
	want := map[string]any{
		"iss": testIssuer, "aud": "client-1", "sub": "user-1", "sid": "sid-1", "jti": "j-1",
		"iat": num(testStart.Unix()), "exp": num(testStart.Add(2 * time.Minute).Unix()),
		"events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
	if c := decodeSegment(t, raw, 1); !reflect.DeepEqual(c, want) {
		t.Fatalf("claims\n%v\nwant\n%v", c, want)
	}
	for _, bad := range []LogoutClaims{
		{Subject: "u", JTI: "j"},
		{Audience: "c", Subject: "u"},
		{Audience: "c", JTI: "j"},
	} {
		if _, err := m.MintLogout(context.Background(), bad); err == nil {
			t.Errorf("%+v minted", bad)
		}
	}
}
