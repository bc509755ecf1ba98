package token

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func TestMintAccessRoundTripEveryAlgorithm(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			clock := newClock()
			set := newTestSet(t, alg)
			m := newTestMinter(set, clock.Now)
			raw, minted, err := m.MintAccess(context.Background(), AccessRequest{
				Subject: "user-1", ClientID: "client-1", Scope: []string{"openid", "comments:read"},
				Roles: []string{"admin"}, Lifetime: 10 * time.Minute, AuthTime: testStart.Add(-time.Minute),
			})
			if err != nil {
				t.Fatal(err)
			}
			header := decodeSegment(t, raw, 0)
			signer, _ := set.Active(alg)
			if header["typ"] != "at+jwt" || header["alg"] != alg || header["kid"] != signer.ID() {
				t.Fatalf("header = %v, want typ at+jwt, alg %s, kid %s", header, alg, signer.ID())
			}
			got, err := newTestVerifier(t, set, clock).VerifyAccess(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, minted) {
				t.Fatalf("verified claims\n%+v\nwant the minted claims\n%+v", *got, minted)
			}
		})
	}
}

func TestMintAccessWireClaims(t *testing.T) {
	clock := newClock()
	set := newTestSet(t, AlgES256)
	m := newTestMinter(set, clock.Now)
	tests := []struct {
		name  string
		req   AccessRequest
		check func(t *testing.T, claims map[string]any)
	}{
		{
			name: "scope is one space-separated string; one audience is a string",
			req:  AccessRequest{Subject: "u", ClientID: "c", Scope: []string{"a", "b:c"}, Lifetime: time.Minute},
			check: func(t *testing.T, c map[string]any) {
				if c["scope"] != "a b:c" || c["aud"] != testAudience || c["client_id"] != "c" || c["iss"] != testIssuer {
					t.Errorf("claims = %v", c)
				}
			},
		},
		{
			name: "roles and auth_time omitted when unknown",
			req:  AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Minute},
			check: func(t *testing.T, c map[string]any) {
				for _, absent := range []string{"roles", "auth_time", "scope"} {
					if _, ok := c[absent]; ok {
						t.Errorf("claim %s present: %v", absent, c)
					}
				}
			},
		},
		{
			name: "caller's jti, iat, audiences and auth_time",
			req: AccessRequest{
				Subject: "u", ClientID: "c", JTI: "fixed-jti", IssuedAt: testStart.Add(-time.Second + time.Millisecond),
				Audience: []string{"a1", "a2"}, Roles: []string{"user"}, Lifetime: time.Hour, AuthTime: testStart.Add(-time.Hour),
			},
			check: func(t *testing.T, c map[string]any) {
				iat := testStart.Add(-time.Second).Unix()
				want := map[string]any{
					"jti": "fixed-jti", "iat": num(iat), "nbf": num(iat),
					"exp": num(iat + 3600), "auth_time": num(testStart.Add(-time.Hour).Unix()),
					"aud": []any{"a1", "a2"}, "roles": []any{"user"},
				}
				for name, v := range want {
					if !reflect.DeepEqual(c[name], v) {
						t.Errorf("%s = %#v, want %#v", name, c[name], v)
					}
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, _, err := m.MintAccess(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, decodeSegment(t, raw, 1))
		})
	}
}

// A DPoP-bound token carries cnf.jkt (RFC 9449 §6.1) and the verifier
// reads it back; a bearer token has no cnf at all.
func TestMintAccessConfirmation(t *testing.T) {
	clock := newClock()
	set := newTestSet(t, AlgES256)
	m := newTestMinter(set, clock.Now)
	v := newTestVerifier(t, set, clock)
	for _, jkt := range []string{"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", ""} {
		raw, minted, err := m.MintAccess(context.Background(), AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Minute, JKT: jkt})
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

// num is how decodeSegment returns a JSON number.
func num(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

func TestMintAccessJTIsAreFreshAndLong(t *testing.T) {
	m := newTestMinter(newTestSet(t, AlgEdDSA), newClock().Now)
	seen := map[string]bool{}
	for range 100 {
		_, c, err := m.MintAccess(context.Background(), AccessRequest{Subject: "u", ClientID: "c", Lifetime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.JTI) < 22 || seen[c.JTI] { // 22 base64 or 26 base32 characters hold 128 bits
			t.Fatalf("jti %q is short or repeated", c.JTI)
		}
		seen[c.JTI] = true
	}
}

func TestMintAccessRejectsIncompleteRequests(t *testing.T) {
	m := newTestMinter(newTestSet(t, AlgES256), newClock().Now)
	const needsBoth = "token: access token needs a subject and a client id"
	tests := []struct {
		name    string
		req     AccessRequest
		wantErr string
	}{
		{"no subject", AccessRequest{ClientID: "c", Lifetime: time.Minute}, needsBoth},
		{"no client", AccessRequest{Subject: "u", Lifetime: time.Minute}, needsBoth},
		{"no lifetime", AccessRequest{Subject: "u", ClientID: "c"}, "token: access token lifetime must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := m.MintAccess(context.Background(), tc.req)
			checkErrorText(t, err, tc.wantErr)
		})
	}
}

func TestMintIDToken(t *testing.T) {
	clock := newClock()
	set := newTestSet(t, AlgES256)
	m := newTestMinter(set, clock.Now)
	raw, err := m.MintIDToken(context.Background(), IDClaims{
		Subject: "user-1", Audience: "client-1", Nonce: "n-0S6", AuthTime: testStart.Add(-time.Minute),
		AccessToken: "some-access-token", Lifetime: 5 * time.Minute, SessionID: "sid-1",
		Extra: map[string]any{"name": "Alice", "email": "alice@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	header := decodeSegment(t, raw, 0)
	rs, _ := set.Active(AlgRS256)
	if header["typ"] != "JWT" || header["alg"] != AlgRS256 || header["kid"] != rs.ID() {
		t.Fatalf("header = %v, want typ JWT, alg RS256, kid %s", header, rs.ID())
	}
	c := decodeSegment(t, raw, 1)
	want := map[string]any{
		"iss": testIssuer, "sub": "user-1", "aud": "client-1", "nonce": "n-0S6", "name": "Alice",
		"email": "alice@example.com", "at_hash": AccessTokenHash(AlgRS256, "some-access-token"),
		"iat": num(testStart.Unix()), "exp": num(testStart.Add(5 * time.Minute).Unix()),
		"auth_time": num(testStart.Add(-time.Minute).Unix()), "sid": "sid-1",
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("claims\n%v\nwant\n%v", c, want)
	}
}

func TestMintIDTokenRejects(t *testing.T) {
	m := newTestMinter(newTestSet(t, AlgES256), newClock().Now)
	tests := []struct {
		name    string
		in      IDClaims
		wantErr string
	}{
		{
			"extra overrides sub", IDClaims{Subject: "u", Audience: "c", Lifetime: time.Minute, Extra: map[string]any{"sub": "admin"}},
			`token: id token extra claim "sub" is reserved`,
		},
		{
			"extra overrides at_hash", IDClaims{Subject: "u", Audience: "c", Lifetime: time.Minute, Extra: map[string]any{"at_hash": "x"}},
			`token: id token extra claim "at_hash" is reserved`,
		},
		{"no audience", IDClaims{Subject: "u", Lifetime: time.Minute}, "token: id token needs a subject and an audience"},
		{"no lifetime", IDClaims{Subject: "u", Audience: "c"}, "token: id token lifetime must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.MintIDToken(context.Background(), tc.in)
			checkErrorText(t, err, tc.wantErr)
		})
	}
}

func TestAccessTokenHash(t *testing.T) {
	// Independent values: left half of SHA-256("abc") and SHA-512("abc").
	tests := []struct{ alg, want string }{
		{AlgRS256, "ungWv48Bz-pBQUDeXa4iIw"},
		{AlgES256, "ungWv48Bz-pBQUDeXa4iIw"},
		{AlgPS256, "ungWv48Bz-pBQUDeXa4iIw"},
		{AlgEdDSA, "3a81oZNherrMQXNJriBBMRLm-k6JqX6iCp7u5ktV05o"},
	}
	for _, tc := range tests {
		t.Run(tc.alg, func(t *testing.T) {
			if got := AccessTokenHash(tc.alg, "abc"); got != tc.want {
				t.Fatalf("at_hash = %s, want %s", got, tc.want)
			}
		})
	}
}
