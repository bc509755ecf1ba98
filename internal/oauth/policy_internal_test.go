package oauth

import (
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
)

func TestDecideIssuance(t *testing.T) {
	all := []string{"openid", "profile", "offline_access", "comments:read", "comments:write", "admin"}
	client := &storage.Client{ID: "c", Scopes: all}
	narrowed := &storage.Client{ID: "c", Scopes: []string{"openid", "comments:read"}}
	alice := &storage.User{ID: "u", Roles: []string{"user"}}
	admin := &storage.User{ID: "a", Roles: []string{"admin"}}
	cases := []struct {
		name string
		g    grantClaim
		want string // the scope, or "error:<code>"
	}{
		{"default is the grant", grantClaim{client: client, user: alice, held: []string{"openid", "comments:read"}}, "openid comments:read"},
		{"request narrows", grantClaim{client: client, user: alice, requested: []string{"openid"}, held: []string{"openid", "comments:read"}}, "openid"},
		{"request beyond the grant", grantClaim{client: client, user: alice, requested: []string{"comments:write"}, held: []string{"openid"}}, "error:invalid_scope"},
		{"admin beyond the user's roles: a new grant refuses", grantClaim{client: client, user: alice, requested: []string{"admin"}, newGrant: true}, "error:invalid_scope"},
		{"admin held but no longer allowed: dropped when asked", grantClaim{client: client, user: alice, requested: []string{"admin", "openid"}, held: all}, "openid"},
		{"admin held but no longer allowed: dropped by default", grantClaim{client: client, user: alice, held: []string{"admin", "openid"}}, "openid"},
		{"admin for an admin", grantClaim{client: client, user: admin, requested: []string{"admin"}, newGrant: true}, "admin"},
		{"new grant: default is what client and roles allow", grantClaim{client: client, user: alice, newGrant: true}, "openid profile offline_access comments:read comments:write"},
		{"client no longer registered: dropped by default", grantClaim{client: narrowed, user: alice, held: []string{"openid", "comments:write"}}, "openid"},
		{"client no longer registered: dropped when asked", grantClaim{client: narrowed, user: alice, requested: []string{"comments:write", "openid"}, held: all}, "openid"},
		{"new grant beyond the client", grantClaim{client: narrowed, user: alice, requested: []string{"comments:write"}, newGrant: true}, "error:invalid_scope"},
		{"empty grant stays empty", grantClaim{client: client, user: alice, held: nil}, ""},
		{"client credentials: no user-only scopes", grantClaim{client: client, newGrant: true}, "profile comments:read comments:write admin"},
		{"client credentials: openid refused", grantClaim{client: client, requested: []string{"openid"}, newGrant: true}, "error:invalid_scope"},
		{"bound grant without its key", grantClaim{client: client, user: alice, held: all, heldKey: "k"}, "error:invalid_grant"},
		{"bound grant with another key", grantClaim{client: client, user: alice, held: all, heldKey: "k", proofKey: "other"}, "error:invalid_grant"},
		{"bound grant with its key", grantClaim{client: client, user: alice, held: []string{"openid"}, heldKey: "k", proofKey: "k"}, "openid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dec, e := decideIssuance(tc.g)
			got := strings.Join(dec.scope, " ")
			if e != nil {
				got = "error:" + e.Code
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if e == nil && dec.jkt != tc.g.proofKey {
				t.Fatalf("bound to %q, want the proven key %q", dec.jkt, tc.g.proofKey)
			}
		})
	}
}

// A role's powers reach an app only through a scope the user consented
// to for it (issue 22): the admin role rides on admin or
// comments:moderate alone; a role that carries no power always rides.
func TestDecideIssuanceRoles(t *testing.T) {
	client := &storage.Client{ID: "c", Scopes: []string{"openid", "comments:write", "comments:moderate", "admin"}}
	admin := &storage.User{ID: "a", Roles: []string{"user", "admin"}}
	cases := []struct {
		requested, want string
	}{
		{"comments:write", "user"},
		{"openid comments:write", "user"},
		{"comments:write comments:moderate", "user admin"},
		{"admin", "user admin"},
	}
	for _, tc := range cases {
		t.Run(tc.requested, func(t *testing.T) {
			dec, e := decideIssuance(grantClaim{client: client, user: admin, requested: strings.Fields(tc.requested), newGrant: true})
			if e != nil {
				t.Fatal(e)
			}
			if got := strings.Join(dec.roles, " "); got != tc.want {
				t.Fatalf("roles %q, want %q", got, tc.want)
			}
		})
	}
}
