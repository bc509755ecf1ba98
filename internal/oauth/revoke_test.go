package oauth_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

func TestRevocation(t *testing.T) {
	s := newServer(t)
	revoke := func(tok, hint, user, pass string) response {
		f := url.Values{"token": {tok}}
		if hint != "" {
			f.Set("token_type_hint", hint)
		}
		return s.post("/oauth2/revoke", f, user, pass)
	}

	t.Run("refresh token revokes its family", func(t *testing.T) {
		first := s.passwordGrant("comments:read")
		if res := revoke(first.str("refresh_token"), "refresh_token", firstPartyID, firstPartySecret); res.Status != 200 {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
		wantError(t, s.refresh(first.str("refresh_token"), firstPartyID, firstPartySecret), 400, "invalid_grant")
		if s.active(first.str("access_token")) {
			t.Error("the family's access token is still active")
		}
	})
	t.Run("access token is denied until it expires", func(t *testing.T) {
		first := s.passwordGrant("comments:read")
		// The hint is wrong on purpose: it only orders the lookups.
		if res := revoke(first.str("access_token"), "refresh_token", firstPartyID, firstPartySecret); res.Status != 200 {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
		if s.active(first.str("access_token")) {
			t.Fatal("revoked access token is active")
		}
		if !s.activeFor(first.str("refresh_token"), firstPartyID, firstPartySecret) {
			t.Fatal("revoking the access token must leave the refresh token alone")
		}
	})
	t.Run("unknown token is 200", func(t *testing.T) {
		for _, tok := range []string{"nonsense", "aaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "eyJ.eyJ.sig"} {
			if res := revoke(tok, "", firstPartyID, firstPartySecret); res.Status != 200 {
				t.Fatalf("%q: got %d %s", tok, res.Status, res.Raw)
			}
		}
	})
	t.Run("another client's token is refused and kept", func(t *testing.T) {
		first := s.passwordGrant("comments:read")
		wantError(t, revoke(first.str("refresh_token"), "", serviceID, serviceSecret), 400, "unauthorized_client")
		wantError(t, revoke(first.str("access_token"), "", serviceID, serviceSecret), 400, "unauthorized_client")
		if !s.activeFor(first.str("refresh_token"), firstPartyID, firstPartySecret) || !s.active(first.str("access_token")) {
			t.Fatal("another client revoked the tokens")
		}
	})
	t.Run("client must authenticate", func(t *testing.T) {
		first := s.passwordGrant("comments:read")
		wantError(t, revoke(first.str("refresh_token"), "", firstPartyID, "wrong"), 401, "invalid_client")
		wantError(t, revoke("", "", firstPartyID, firstPartySecret), 400, "invalid_request")
	})
}

func TestIntrospection(t *testing.T) {
	s := newServer(t)
	first := s.passwordGrant("profile comments:read")
	res := s.post("/oauth2/introspect", url.Values{"token": {first.str("access_token")}}, serviceID, serviceSecret)
	if res.Status != 200 || res.Body["active"] != true {
		t.Fatalf("got %d %s", res.Status, res.Raw)
	}
	want := map[string]any{
		"scope": "profile comments:read", "client_id": firstPartyID, "username": "alice",
		"sub": s.alice.ID, "token_type": "Bearer", "iss": s.Issuer,
	}
	for k, v := range want {
		if res.Body[k] != v {
			t.Errorf("%s = %v, want %v", k, res.Body[k], v)
		}
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Error("introspection response is cacheable")
	}

	t.Run("inactive is only active:false", func(t *testing.T) {
		res := s.post("/oauth2/introspect", url.Values{"token": {"garbage"}}, serviceID, serviceSecret)
		if res.Status != 200 || len(res.Body) != 1 || res.Body["active"] != false {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
	t.Run("public clients may not introspect", func(t *testing.T) {
		res := s.post("/oauth2/introspect", url.Values{"token": {first.str("access_token")}, "client_id": {publicID}}, "", "")
		wantError(t, res, 400, "unauthorized_client")
	})
	t.Run("revoking all of a user's tokens makes them inactive", func(t *testing.T) {
		tok := s.passwordGrant("comments:read").str("access_token")
		cut := storage.Cutoff{Principal: storage.SubjectCutoff(s.alice.ID), NotBefore: time.Now().Add(time.Second), Until: time.Now().Add(time.Hour)}
		if err := s.Store.SetCutoff(t.Context(), cut); err != nil {
			t.Fatal(err)
		}
		if s.active(tok) {
			t.Fatal("a token issued before the user's cutoff is active")
		}
	})
	t.Run("unauthenticated is refused", func(t *testing.T) {
		wantError(t, s.post("/oauth2/introspect", url.Values{"token": {first.str("access_token")}}, "", ""), 401, "invalid_client")
	})
}
