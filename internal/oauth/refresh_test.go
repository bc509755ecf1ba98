package oauth_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func TestRefreshGrant(t *testing.T) {
	s := newServer(t)

	t.Run("rotates and narrows", func(t *testing.T) {
		first := s.passwordGrant("profile comments:read offline_access")
		res := s.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}, "scope": {"comments:read"}}, firstPartyID, firstPartySecret)
		if res.Status != 200 || res.str("scope") != "comments:read" {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
		if res.str("refresh_token") == first.str("refresh_token") || res.str("refresh_token") == "" {
			t.Fatal("refresh token was not rotated")
		}
		if s.activeFor(first.str("refresh_token"), firstPartyID, firstPartySecret) || !s.activeFor(res.str("refresh_token"), firstPartyID, firstPartySecret) {
			t.Fatal("only the successor may be active after rotation")
		}
	})
	t.Run("scope cannot widen", func(t *testing.T) {
		first := s.passwordGrant("comments:read")
		res := s.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}, "scope": {"comments:read comments:write"}}, firstPartyID, firstPartySecret)
		wantError(t, res, 400, "invalid_scope")
		if res := s.refresh(first.str("refresh_token"), firstPartyID, firstPartySecret); res.Status != 200 {
			t.Fatalf("a refused widening must not spend the token: %d %s", res.Status, res.Raw)
		}
	})
	t.Run("another client cannot use or disturb it", func(t *testing.T) {
		first := s.passwordGrant("comments:read")
		wantError(t, s.refresh(first.str("refresh_token"), thirdPartyID, thirdPartySecret), 400, "invalid_grant")
		if res := s.refresh(first.str("refresh_token"), firstPartyID, firstPartySecret); res.Status != 200 {
			t.Fatalf("owner's token was disturbed: %d %s", res.Status, res.Raw)
		}
	})
	t.Run("reuse revokes the family", func(t *testing.T) {
		first := s.passwordGrant("comments:read")
		second := s.refresh(first.str("refresh_token"), firstPartyID, firstPartySecret)
		if second.Status != 200 {
			t.Fatalf("got %d %s", second.Status, second.Raw)
		}
		wantError(t, s.refresh(first.str("refresh_token"), firstPartyID, firstPartySecret), 400, "invalid_grant")
		wantError(t, s.refresh(second.str("refresh_token"), firstPartyID, firstPartySecret), 400, "invalid_grant")
		if s.active(second.str("access_token")) {
			t.Fatal("the family's newest access token is still active after reuse")
		}
	})
	t.Run("malformed and forged tokens", func(t *testing.T) {
		first := s.passwordGrant("comments:read")
		family := first.str("refresh_token")[:len(first.str("refresh_token"))-43]
		for _, rt := range []string{"nonsense", family + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x.y.z"} {
			wantError(t, s.refresh(rt, firstPartyID, firstPartySecret), 400, "invalid_grant")
		}
	})
	t.Run("deleted user cannot refresh", func(t *testing.T) {
		f := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}}
		first := s.post("/oauth2/token", f, firstPartyID, firstPartySecret)
		if err := s.Store.DeleteUser(t.Context(), s.admin.ID); err != nil {
			t.Fatal(err)
		}
		// Users are read through a cache that learns of the deletion over
		// pub/sub: poll, rotating as long as refresh works. The bound is
		// generous; what is asserted is that refresh ends, not how soon.
		rt := first.str("refresh_token")
		deadline := time.Now().Add(10 * time.Second)
		res := s.refresh(rt, firstPartyID, firstPartySecret)
		for res.Status == 200 && time.Now().Before(deadline) {
			rt = res.str("refresh_token")
			time.Sleep(10 * time.Millisecond)
			res = s.refresh(rt, firstPartyID, firstPartySecret)
		}
		wantError(t, res, 400, "invalid_grant")
	})
}

// 50 clients racing to refresh one token: exactly one wins, and since the
// losers present a rotated-out token, the family is revoked (grace off):
// the winner's refresh and access tokens die with it.
func TestConcurrentRefreshHasOneWinner(t *testing.T) {
	s := newServer(t)
	rt := s.passwordGrant("comments:read").str("refresh_token")
	var winner response
	wins := 0
	for _, r := range raceRefresh(t, s, rt, 50) {
		switch {
		case r.Status == 200:
			winner = r
			wins++
		case r.Status != 400 || r.str("error") != "invalid_grant":
			t.Errorf("loser got %d %s, want 400 invalid_grant", r.Status, r.Raw)
		}
	}
	if wins != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1", wins)
	}
	successor := winner.str("refresh_token")
	familyID, _, _ := strings.Cut(successor, ".")
	if _, err := s.Store.CheckRefresh(t.Context(), familyID, secret.SHA256(successor)); !errors.Is(err, storage.ErrRevoked) {
		t.Errorf("the family after the race: CheckRefresh = %v, want storage.ErrRevoked", err)
	}
	wantError(t, s.refresh(successor, firstPartyID, firstPartySecret), 400, "invalid_grant")
	if s.active(winner.str("access_token")) {
		t.Error("the winner's access token is still active after the reuse")
	}
}

// With a grace window every concurrent refresh gets the same successor and
// the family lives on.
func TestConcurrentRefreshWithGraceSharesOneSuccessor(t *testing.T) {
	s := newServer(t, withGrace(10*time.Second))
	rt := s.passwordGrant("comments:read").str("refresh_token")
	results := raceRefresh(t, s, rt, 50)
	successor := ""
	for _, r := range results {
		if r.Status != 200 {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
		if successor == "" {
			successor = r.str("refresh_token")
		}
		if r.str("refresh_token") != successor {
			t.Fatal("two different successors: the family branched")
		}
	}
	if res := s.refresh(successor, firstPartyID, firstPartySecret); res.Status != 200 {
		t.Fatalf("successor does not work: %d %s", res.Status, res.Raw)
	}
	// Older than the previous token: reuse, not grace.
	wantError(t, s.refresh(rt, firstPartyID, firstPartySecret), 400, "invalid_grant")
}

func raceRefresh(t *testing.T, s *server, rt string, n int) []response {
	t.Helper()
	return race(t, n, func() (response, error) { return s.tryRefresh(rt, firstPartyID, firstPartySecret) })
}
