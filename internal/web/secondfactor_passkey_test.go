package web_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// passkeySecondFactorPage signs alice in with her password in a fresh
// browser, for an authorization request of the first-party client, and
// returns the second-factor page it leads to.
func passkeySecondFactorPage(t *testing.T, w *passkeyWorld) (*webtest.Browser, *webtest.Page, string) {
	t.Helper()
	b := w.s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid profile offline_access")
	p := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
	if !strings.Contains(p.Body, `id="passkey-option"`) || p.PasskeyOptions() == "" || p.Hidden("state") == "" {
		t.Fatalf("after the password: no passkey option: %d %s", p.Status, p.Body)
	}
	return b, p, verifier
}

// TestSecondFactorPasskeySignIn: a registered passkey alone (no TOTP)
// makes the password login ask for a second factor and the password grant
// refuse; the passkey answers the second-factor page, the authorization
// request goes on, and the tokens say pwd + the passkey + mfa at the mfa
// class.
func TestSecondFactorPasskeySignIn(t *testing.T) {
	w := newPasskeyWorld(t)
	s := w.s
	addPasswordClient(t, s)
	if got := mfaPasswordGrant(t, s, "alice", webtest.AlicePassword); got.Status != http.StatusBadRequest || got.Str("error") != "invalid_grant" {
		t.Fatalf("password grant for a user with a passkey: %d %s", got.Status, got.Raw)
	}
	b, p, verifier := passkeySecondFactorPage(t, w)
	if strings.Contains(p.Body, `id="verify-totp"`) || strings.Contains(p.Body, `id="confirm-totp"`) {
		t.Errorf("a passkey user is offered TOTP: %s", p.Body)
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("second-factor page CSP %q", csp)
	}
	if acc := b.Get("/account/consents"); acc.Status != http.StatusFound {
		t.Fatalf("the password alone signed in: account page %d", acc.Status)
	}
	cred, err := w.a.Get(p.PasskeyOptions())
	if err != nil {
		t.Fatal(err)
	}
	cb := s.Callback(t, b.Follow(b.SubmitSecondFactorPasskey(p, cred)))
	tok := s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret)
	if tok.Status != http.StatusOK {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Raw)
	}
	want := []string{"pwd", "hwk", "user", "mfa"}
	for name, jwt := range map[string]string{"id token": tok.Str("id_token"), "access token": tok.Str("access_token")} {
		c := claimsOf(t, jwt)
		if c["acr"] != account.ACRMFA || !slices.Equal(amrOf(c), want) || c["auth_time"] == nil {
			t.Errorf("%s: acr %v amr %v, want %s %v", name, c["acr"], c["amr"], account.ACRMFA, want)
		}
	}
	if acc := b.Get("/account/consents"); acc.Status != http.StatusOK {
		t.Fatalf("not signed in after the passkey: %d", acc.Status)
	}
}

// withoutAllowed is options with no allowed credentials, so that an
// authenticator answers with a passkey the server did not ask for.
func withoutAllowed(t *testing.T, options string) string {
	t.Helper()
	var o map[string]map[string]any
	if err := json.Unmarshal([]byte(options), &o); err != nil {
		t.Fatal(err)
	}
	delete(o["publicKey"], "allowCredentials")
	out, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// syncedCounter answers with a signature counter of zero.
func syncedCounter(a *webtest.Assertion) { a.Counter = 0 }

// TestSecondFactorPasskeyRefusals: another user's passkey, a replayed
// assertion and the state of another browser's form are each refused with
// the second-factor page again (400, a clear message), and store nothing:
// no used ceremony, no sign-in, no change to the passkey.
func TestSecondFactorPasskeyRefusals(t *testing.T) {
	w := newPasskeyWorld(t)
	s := w.s
	bobKey := webtest.NewAuthenticator(s.Issuer)
	bob := s.NewBrowser(t)
	signIn(t, bob, "bob", webtest.BobPassword)
	if p := bob.AddPasskey(bobKey, "Bob's"); p.Status != http.StatusOK {
		t.Fatalf("bob's passkey: %d", p.Status)
	}
	before, counter := usedChallenges(t, s), w.stored(t).SignCount

	b, p, _ := passkeySecondFactorPage(t, w)
	other, otherPage, _ := passkeySecondFactorPage(t, w)
	bobs, err := bobKey.Get(withoutAllowed(t, p.PasskeyOptions()))
	if err != nil {
		t.Fatal(err)
	}
	alices, err := w.a.GetWith(otherPage.PasskeyOptions(), syncedCounter)
	if err != nil {
		t.Fatal(err)
	}
	refuse := func(name string, got *webtest.Page, br *webtest.Browser, text string) {
		t.Helper()
		if got.Status != http.StatusBadRequest || !strings.Contains(got.Body, text) || !strings.Contains(got.Body, `id="passkey-option"`) {
			t.Fatalf("%s: %d %s", name, got.Status, got.Body)
		}
		if acc := br.Get("/account/consents"); acc.Status != http.StatusFound {
			t.Fatalf("%s signed in: %d", name, acc.Status)
		}
		if n := usedChallenges(t, s); n != before {
			t.Fatalf("%s stored a used ceremony: %d, want %d", name, n, before)
		}
		if got := w.stored(t).SignCount; got != counter {
			t.Fatalf("%s changed the passkey's counter: %d, want %d", name, got, counter)
		}
	}
	refuse("bob's passkey", b.SubmitSecondFactorPasskey(p, bobs), b, "not registered here")
	// Alice's own answer to the other browser's ceremony, posted with
	// this browser's form.
	f := *p
	f.Body = strings.Replace(p.Body, p.Hidden("state"), otherPage.Hidden("state"), 1)
	refuse("another form's state", b.SubmitSecondFactorPasskey(&f, alices), b, "expired")

	// The other browser's own answer passes, once.
	if got := other.SubmitSecondFactorPasskey(otherPage, alices); got.Status != http.StatusSeeOther {
		t.Fatalf("alice's passkey: %d %s", got.Status, got.Body)
	}
	// A step-up of the now signed-in session: its answer passes once,
	// and the same answer again is a replay, which only the used-ceremony
	// record tells (the counter stays zero, as synced passkeys send).
	step := other.Get("/login/second-factor")
	again, err := w.a.GetWith(step.PasskeyOptions(), syncedCounter)
	if err != nil {
		t.Fatal(err)
	}
	if got := other.SubmitSecondFactorPasskey(step, again); got.Status != http.StatusSeeOther {
		t.Fatalf("step-up with alice's passkey: %d %s", got.Status, got.Body)
	}
	before, counter = usedChallenges(t, s), w.stored(t).SignCount
	got := other.SubmitSecondFactorPasskey(step, again)
	if got.Status != http.StatusBadRequest || !strings.Contains(got.Body, "already used") || !strings.Contains(got.Body, `id="passkey-option"`) {
		t.Fatalf("replay: %d %s", got.Status, got.Body)
	}
	if n := usedChallenges(t, s); n != before || w.stored(t).SignCount != counter {
		t.Fatalf("the replay stored something: %d used ceremonies (want %d), counter %d (want %d)", n, before, w.stored(t).SignCount, counter)
	}
}
