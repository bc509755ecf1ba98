package oauth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// newCode stores an authorization code for alice as the authorize endpoint
// would, and returns it with its PKCE verifier.
func (s *server) newCode(clientID, scope string, pkce bool) (code, verifier string) {
	s.t.Helper()
	code = secret.NewToken(32)
	ac := &storage.AuthCode{
		ClientID: clientID, UserID: s.alice.ID, RedirectURI: redirectURI, Scope: strings.Fields(scope),
		Nonce: "n-0S6_WzA2Mj", AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Minute),
		ClientGeneration: s.generation(clientID),
	}
	if pkce {
		verifier = secret.NewToken(32)
		ac.CodeChallenge, ac.CodeChallengeMethod = challengeOf(verifier), "S256"
	}
	if err := s.Store.SaveCode(s.t.Context(), secret.SHA256(code), ac); err != nil {
		s.t.Fatal(err)
	}
	return code, verifier
}

// generation is the stored client's generation, which a code or family
// made outside the authorize endpoint must record as that endpoint does.
func (s *server) generation(clientID string) string {
	s.t.Helper()
	c, err := s.Store.GetClient(s.t.Context(), clientID)
	if err != nil {
		s.t.Fatal(err)
	}
	return c.Generation
}

// challengeOf is verifier's S256 code challenge (RFC 7636 §4.2).
func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *server) redeem(code, verifier, clientID, clientSecret, redirect string) response {
	s.t.Helper()
	return s.must(s.tryRedeem(code, verifier, clientID, clientSecret, redirect))
}

func (s *server) tryRedeem(code, verifier, clientID, clientSecret, redirect string) (response, error) {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	if clientSecret == "" {
		f.Set("client_id", clientID)
		return s.tryPost("/oauth2/token", f, "", "")
	}
	return s.tryPost("/oauth2/token", f, clientID, clientSecret)
}

func TestAuthorizationCodeRedemption(t *testing.T) {
	s := newServer(t)

	t.Run("with PKCE and offline_access", func(t *testing.T) {
		code, verifier := s.newCode(thirdPartyID, "openid profile offline_access", true)
		res := s.redeem(code, verifier, thirdPartyID, thirdPartySecret, redirectURI)
		if res.Status != 200 || res.str("refresh_token") == "" || res.str("id_token") == "" {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
	t.Run("without offline_access no refresh token", func(t *testing.T) {
		code, verifier := s.newCode(thirdPartyID, "profile", true)
		res := s.redeem(code, verifier, thirdPartyID, thirdPartySecret, redirectURI)
		if res.Status != 200 || res.str("refresh_token") != "" {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
	t.Run("public client", func(t *testing.T) {
		code, verifier := s.newCode(publicID, "profile", true)
		if res := s.redeem(code, verifier, publicID, "", redirectURI); res.Status != 200 {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})

	refusals := []struct {
		name     string
		client   string
		secret   string
		pkce     bool
		verifier string // "" = the right one; "-" = none
		redirect string
	}{
		{"wrong verifier", thirdPartyID, thirdPartySecret, true, secret.NewToken(32), redirectURI},
		{"missing verifier", thirdPartyID, thirdPartySecret, true, "-", redirectURI},
		{"verifier too short", thirdPartyID, thirdPartySecret, true, "short", redirectURI},
		{"verifier without challenge", thirdPartyID, thirdPartySecret, false, secret.NewToken(32), redirectURI},
		{"public client without challenge", publicID, "", false, "-", redirectURI},
		{"other redirect uri", thirdPartyID, thirdPartySecret, true, "", "http://localhost:9000/callback/x"},
		{"missing redirect uri", thirdPartyID, thirdPartySecret, true, "", ""},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier := s.newCode(tc.client, "profile", tc.pkce)
			switch tc.verifier {
			case "-":
				verifier = ""
			case "":
			default:
				verifier = tc.verifier
			}
			wantError(t, s.redeem(code, verifier, tc.client, tc.secret, tc.redirect), 400, "invalid_grant")
		})
	}
	t.Run("code of another client", func(t *testing.T) {
		code, verifier := s.newCode(thirdPartyID, "profile", true)
		wantError(t, s.redeem(code, verifier, firstPartyID, firstPartySecret, redirectURI), 400, "invalid_grant")
	})
	t.Run("unknown code", func(t *testing.T) {
		wantError(t, s.redeem(secret.NewToken(32), "", thirdPartyID, thirdPartySecret, redirectURI), 400, "invalid_grant")
	})
}

// A replayed code is refused and everything the first redemption issued
// is revoked (RFC 6749 §4.1.2).
func TestCodeReplayRevokesIssuedTokens(t *testing.T) {
	s := newServer(t)
	code, verifier := s.newCode(thirdPartyID, "profile offline_access", true)
	first := s.redeem(code, verifier, thirdPartyID, thirdPartySecret, redirectURI)
	if first.Status != 200 {
		t.Fatalf("got %d %s", first.Status, first.Raw)
	}
	wantError(t, s.redeem(code, verifier, thirdPartyID, thirdPartySecret, redirectURI), 400, "invalid_grant")
	if s.active(first.str("access_token")) {
		t.Error("access token from the first redemption is still active")
	}
	wantError(t, s.refresh(first.str("refresh_token"), thirdPartyID, thirdPartySecret), 400, "invalid_grant")
}

func TestConcurrentCodeRedemptionHasOneWinner(t *testing.T) {
	s := newServer(t)
	code, verifier := s.newCode(thirdPartyID, "profile", true)
	results := race(t, 20, func() (response, error) {
		return s.tryRedeem(code, verifier, thirdPartyID, thirdPartySecret, redirectURI)
	})
	wantOneWinner(t, results)
}

// wantOneWinner checks that exactly one of racing redemptions succeeded
// and every other got invalid_grant.
func wantOneWinner(t *testing.T, results []response) {
	t.Helper()
	wins := 0
	for _, r := range results {
		switch {
		case r.Status == 200:
			wins++
		case r.Status != 400 || r.str("error") != "invalid_grant":
			t.Errorf("loser got %d %s, want 400 invalid_grant", r.Status, r.Raw)
		}
	}
	if wins != 1 {
		t.Fatalf("%d redemptions succeeded, want 1", wins)
	}
}

// wrongPresenters present a code issued to the third-party client (with
// verifier) as someone who intercepted it would: each fails one check of
// RFC 6749 §4.1.3 or RFC 7636 §4.6.
func (s *server) wrongPresenters() []struct {
	name    string
	present func(code, verifier string) (response, error)
} {
	return []struct {
		name    string
		present func(code, verifier string) (response, error)
	}{
		{"another client", func(code, verifier string) (response, error) {
			return s.tryRedeem(code, verifier, firstPartyID, firstPartySecret, redirectURI)
		}},
		{"a public client", func(code, verifier string) (response, error) {
			return s.tryRedeem(code, verifier, publicID, "", redirectURI)
		}},
		{"wrong verifier", func(code, _ string) (response, error) {
			return s.tryRedeem(code, secret.NewToken(32), thirdPartyID, thirdPartySecret, redirectURI)
		}},
		{"no verifier", func(code, _ string) (response, error) {
			return s.tryRedeem(code, "", thirdPartyID, thirdPartySecret, redirectURI)
		}},
		{"other redirect uri", func(code, verifier string) (response, error) {
			return s.tryRedeem(code, verifier, thirdPartyID, thirdPartySecret, redirectURI+"/x")
		}},
		{"no redirect uri", func(code, verifier string) (response, error) {
			return s.tryRedeem(code, verifier, thirdPartyID, thirdPartySecret, "")
		}},
	}
}

// A presenter who fails a check gets invalid_grant and leaves the code to
// the client it was issued to (DESIGN §9.4); after that client redeemed
// it, such a presenter is no replay either: what the client got stays
// valid.
func TestWrongPresenterLeavesCode(t *testing.T) {
	s := newServer(t)
	for _, wrong := range s.wrongPresenters() {
		t.Run(wrong.name, func(t *testing.T) {
			code, verifier := s.newCode(thirdPartyID, "profile offline_access", true)
			wantError(t, s.must(wrong.present(code, verifier)), 400, "invalid_grant")
			got := s.redeem(code, verifier, thirdPartyID, thirdPartySecret, redirectURI)
			if got.Status != 200 {
				t.Fatalf("the rightful client after a wrong presenter: %d %s", got.Status, got.Raw)
			}
			wantError(t, s.must(wrong.present(code, verifier)), 400, "invalid_grant")
			if !s.active(got.str("access_token")) {
				t.Error("a wrong presenter's attempt revoked the rightful client's access token")
			}
			if res := s.refresh(got.str("refresh_token"), thirdPartyID, thirdPartySecret); res.Status != 200 {
				t.Errorf("a wrong presenter's attempt revoked the refresh token: %d %s", res.Status, res.Raw)
			}
		})
	}
}

// Racing presenters of one code, wrong ones among them: the rightful
// client alone among wrong presenters always wins, and of several
// rightful presentations exactly one does.
func TestCodeRaceWithWrongPresenters(t *testing.T) {
	s := newServer(t)
	wrong := s.wrongPresenters()
	present := func(code, verifier string, i int) (response, error) {
		if i < 0 {
			return s.tryRedeem(code, verifier, thirdPartyID, thirdPartySecret, redirectURI)
		}
		return wrong[i%len(wrong)].present(code, verifier)
	}
	t.Run("one rightful presenter", func(t *testing.T) {
		const n = 24
		code, verifier := s.newCode(thirdPartyID, "profile", true)
		results := race(t, n, func() func() (response, error) {
			var next atomic.Int32
			return func() (response, error) { return present(code, verifier, int(next.Add(1))-2) }
		}())
		wins := 0
		for _, r := range results {
			switch {
			case r.Status == 200:
				wins++
				if !s.active(r.str("access_token")) {
					t.Error("the rightful client's access token was revoked")
				}
			case r.Status != 400 || r.str("error") != "invalid_grant":
				t.Errorf("wrong presenter got %d %s, want 400 invalid_grant", r.Status, r.Raw)
			}
		}
		if wins != 1 {
			t.Fatalf("%d redemptions succeeded, want the rightful client's", wins)
		}
	})
	t.Run("several rightful presenters", func(t *testing.T) {
		const n = 24
		code, verifier := s.newCode(thirdPartyID, "profile", true)
		results := race(t, n, func() func() (response, error) {
			var next atomic.Int32
			return func() (response, error) {
				i := int(next.Add(1))
				if i%2 == 0 {
					i = -1
				}
				return present(code, verifier, i)
			}
		}())
		wantOneWinner(t, results)
	})
}
