package oauth_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/oauth"
)

// refreshScope refreshes with the first-party client, asking for scope.
func (s *server) refreshScope(rt, scope string) response {
	s.t.Helper()
	return s.post(oauth.TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope}},
		firstPartyID, firstPartySecret)
}

// The issue 17 reproduction: alice (role user) refreshes, then presents
// the rotated-out token again inside the grace window asking for more.
// The grace answer repeats the lost one and can never exceed the
// family's grant: invalid_scope, and no token.
func TestGraceRefreshCannotWiden(t *testing.T) {
	s := newServer(t, withGrace(30*time.Second))
	first := s.passwordGrant("openid offline_access")
	if res := s.refresh(first.str("refresh_token"), firstPartyID, firstPartySecret); res.Status != 200 {
		t.Fatalf("refresh: %d %s", res.Status, res.Raw)
	}
	for _, scope := range []string{"admin comments:write", "comments:write", "openid admin"} {
		res := s.refreshScope(first.str("refresh_token"), scope)
		wantError(t, res, 400, "invalid_scope")
		if res.str("access_token") != "" {
			t.Fatalf("scope %q: a token came with the error", scope)
		}
	}
	// The grace repeat still answers within the grant.
	res := s.refreshScope(first.str("refresh_token"), "openid")
	if res.Status != 200 || res.str("scope") != "openid" {
		t.Fatalf("grace repeat within the grant: %d %s", res.Status, res.Raw)
	}
}

// A refresh applies the user's current roles: a demotion that revoked
// nothing (the bootstrap file re-applied, say) takes admin away from the
// family's next access token, also when the refresh asks for it by name.
func TestRefreshAppliesCurrentRoles(t *testing.T) {
	s := newServer(t)
	f := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}, "scope": {"admin comments:read offline_access"}}
	first := s.post(oauth.TokenPath, f, firstPartyID, firstPartySecret)
	if first.Status != 200 || first.str("scope") != "admin comments:read offline_access" {
		t.Fatalf("admin's password grant: %d %s", first.Status, first.Raw)
	}
	demoted := *s.admin
	demoted.Roles = []string{"user"}
	if err := s.Store.UpdateUser(t.Context(), &demoted); err != nil {
		t.Fatal(err)
	}
	// The user cache learns of the change over pub/sub: refresh until it
	// has (each refresh rotates), within a generous bound.
	rt := first.str("refresh_token")
	var res response
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		res = s.refresh(rt, firstPartyID, firstPartySecret)
		if res.Status != 200 {
			t.Fatalf("refresh: %d %s", res.Status, res.Raw)
		}
		rt = res.str("refresh_token")
		if !slices.Contains(strings.Fields(res.str("scope")), "admin") {
			break
		}
	}
	if got := res.str("scope"); got != "comments:read offline_access" {
		t.Fatalf("scope after demotion = %q, want the grant less admin", got)
	}
	claims, err := s.verify(res.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(claims.Scope, "admin") || slices.Contains(claims.Roles, "admin") {
		t.Fatalf("demoted user's token carries scope %q roles %q", claims.Scope, claims.Roles)
	}
	// Asked for by name, it is still not issued: the answer says what was.
	res = s.refreshScope(rt, "admin comments:read")
	if res.Status != 200 || res.str("scope") != "comments:read" {
		t.Fatalf("asking a demoted user's family for admin: %d %s", res.Status, res.Raw)
	}
}

// A public client's family that was not bound at birth is bound to the
// key of its first refresh with a proof (RFC 9449 §5) and from then on
// issues only to that key.
func TestPublicFamilyBoundAtFirstProof(t *testing.T) {
	s := newServer(t, withDPoP(nil, false), withGrace(30*time.Second))
	key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	grant := passwordForm()
	grant.Set("client_id", publicID)
	first := s.post(oauth.TokenPath, grant, "", "")
	if first.Status != 200 || first.str("token_type") != "Bearer" {
		t.Fatalf("bearer password grant: %d %s", first.Status, first.Raw)
	}
	refresh := func(rt string, proofs ...string) response {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicID}}
		return s.postProof(oauth.TokenPath, f, "", "", proofs...)
	}
	bound := refresh(first.str("refresh_token"), s.tokenProof(key))
	if bound.Status != 200 || bound.str("token_type") != "DPoP" {
		t.Fatalf("first refresh with a proof: %d %s", bound.Status, bound.Raw)
	}
	rt := bound.str("refresh_token")
	wantError(t, refresh(rt), 400, "invalid_grant")
	wantError(t, refresh(rt, s.tokenProof(other)), 400, "invalid_grant")
	// The grace repeat of the binding rotation needs the key too.
	wantError(t, refresh(first.str("refresh_token")), 400, "invalid_grant")
	if res := refresh(rt, s.tokenProof(key)); res.Status != 200 || res.str("token_type") != "DPoP" {
		t.Fatalf("refresh with the bound key: %d %s", res.Status, res.Raw)
	}
}
