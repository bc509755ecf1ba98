package oauth_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
)

// Signing a user in to a client that takes logout tokens (an ID token
// from a browser-flow code, or from the password grant) remembers the
// client for the user, with the browser session's sid (none for the
// password grant), until the latest expiry of what it received, so
// that an administrator's sign-out reaches it when no browser session of
// the user is left (package backchannel).
func TestSignInRemembersTheUsersClient(t *testing.T) {
	s := newServer(t)
	ctx := t.Context()
	// bcl requires a sid in its logout tokens, bclAny does not.
	const bcl, bclAny, bclSecret = "bcl-app", "bcl-any", "bcl-app-secret-0123456789"
	for _, c := range []*storage.Client{
		{ID: bcl, BackchannelLogoutSessionRequired: true},
		{ID: bclAny},
	} {
		c.SecretHash, c.FirstParty = testenv.Hash(t, bclSecret), true
		c.GrantTypes, c.Scopes = []string{"authorization_code", "password", "refresh_token"}, []string{"openid", "profile", "offline_access"}
		c.RedirectURIs, c.BackchannelLogoutURI = []string{redirectURI}, "https://app.example/bcl"
		if err := s.Store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	redeem := func(clientID, clientSecret, scope, sid string, sessionExp time.Time) {
		t.Helper()
		code := secret.NewToken(32)
		err := s.Store.SaveCode(ctx, secret.SHA256(code), &storage.AuthCode{
			ClientID: clientID, UserID: s.alice.ID, RedirectURI: redirectURI, Scope: strings.Fields(scope),
			AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Minute), SID: sid, SessionExpiresAt: sessionExp,
			ClientGeneration: s.generation(clientID),
		})
		if err != nil {
			t.Fatal(err)
		}
		if res := s.redeem(code, "", clientID, clientSecret, redirectURI); res.Status != 200 {
			t.Fatalf("redeem: %d %s", res.Status, res.Body)
		}
	}
	// remembered returns the user's entries and forgets them for the next
	// case.
	remembered := func() []storage.UserClient {
		t.Helper()
		got, err := s.Store.UserClients(ctx, s.alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store.ForgetUserClients(ctx, s.alice.ID, got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	nearOf := func(got storage.UserClient, clientID, sid string, want time.Time) bool {
		d := got.Until.Sub(want)
		return got.ClientID == clientID && got.SID == sid && d > -10*time.Second && d < 10*time.Second
	}
	near := func(got storage.UserClient, sid string, want time.Time) bool { return nearOf(got, bcl, sid, want) }

	redeem(bcl, bclSecret, "openid offline_access", "sid-1", time.Now().Add(time.Hour))
	if got := remembered(); len(got) != 1 || !near(got[0], "sid-1", time.Now().Add(24*time.Hour)) {
		t.Fatalf("with a refresh token: %+v, want until the family's absolute expiry", got)
	}
	redeem(bcl, bclSecret, "openid", "sid-2", time.Now().Add(2*time.Hour))
	if got := remembered(); len(got) != 1 || !near(got[0], "sid-2", time.Now().Add(2*time.Hour)) {
		t.Fatalf("a session outliving the ID token: %+v, want until the session's end", got)
	}
	redeem(bcl, bclSecret, "openid", "sid-3", time.Now().Add(time.Minute))
	if got := remembered(); len(got) != 1 || !near(got[0], "sid-3", time.Now().Add(15*time.Minute)) {
		t.Fatalf("an ID token outliving the session: %+v, want until the ID token's expiry", got)
	}
	// Each browser session it signed in through is remembered apart, so
	// that a client requiring a sid can be told of each.
	redeem(bcl, bclSecret, "openid", "sid-6", time.Now().Add(time.Hour))
	redeem(bcl, bclSecret, "openid", "sid-7", time.Now().Add(time.Hour))
	if got := remembered(); len(got) != 2 || !near(got[0], "sid-6", time.Now().Add(time.Hour)) || !near(got[1], "sid-7", time.Now().Add(time.Hour)) {
		t.Fatalf("two sessions: %+v, want one entry each", got)
	}
	// A client told with sub alone needs one entry, whatever the session.
	redeem(bclAny, bclSecret, "openid", "sid-8", time.Now().Add(time.Hour))
	redeem(bclAny, bclSecret, "openid", "sid-9", time.Now().Add(time.Hour))
	if got := remembered(); len(got) != 1 || !nearOf(got[0], bclAny, "", time.Now().Add(time.Hour)) {
		t.Fatalf("two sessions of a client not requiring a sid: %+v, want one entry without a sid", got)
	}
	// The password grant: a first-party app with no browser session here.
	signIn := func(clientID, clientSecret, scope string) {
		t.Helper()
		f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "scope": {scope}}
		if res := s.post(oauth.TokenPath, f, clientID, clientSecret); res.Status != 200 {
			t.Fatalf("password grant: %d %s", res.Status, res.Raw)
		}
	}
	signIn(bclAny, bclSecret, "openid offline_access")
	if got := remembered(); len(got) != 1 || !nearOf(got[0], bclAny, "", time.Now().Add(24*time.Hour)) {
		t.Fatalf("password grant with a refresh token: %+v, want until the family's absolute expiry", got)
	}
	for name, redeemIt := range map[string]func(){
		"password grant without an ID token":         func() { signIn(bclAny, bclSecret, "profile") },
		"password grant to a client requiring a sid": func() { signIn(bcl, bclSecret, "openid") },
		"no ID token":                   func() { redeem(bcl, bclSecret, "profile", "sid-4", time.Now().Add(time.Hour)) },
		"no browser session":            func() { redeem(bcl, bclSecret, "openid", "", time.Time{}) },
		"a client without a logout URI": func() { redeem(firstPartyID, firstPartySecret, "openid", "sid-5", time.Now().Add(time.Hour)) },
	} {
		redeemIt()
		if got := remembered(); len(got) != 0 {
			t.Fatalf("%s: remembered %+v", name, got)
		}
	}
}
