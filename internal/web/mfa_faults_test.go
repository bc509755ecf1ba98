package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// When Redis stops answering for the second-factor records, the password
// step and the second-factor step answer 503 with Retry-After (never 500,
// never signed in), and a code refused that way was not spent: it signs
// in once Redis answers again.
func TestSecondFactorWhenRedisStalls(t *testing.T) {
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now})
	b := s.NewBrowser(t)
	signInPassword(t, b, "alice", webtest.AlicePassword)
	secret, _ := enrolTOTP(t, b, clock)
	clock.Advance(30 * time.Second)

	stall := &stallKeys{part: s.Store.Prefix() + "mfa:"} // passkeys_faults_test.go
	s.Store.Redis().AddHook(stall)
	b2 := s.NewBrowser(t)
	login := b2.Get("/login")
	stall.on.Store(true)
	p := b2.SubmitLogin(login, "alice", webtest.AlicePassword)
	if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
		t.Fatalf("password step with Redis stalled: %d (Retry-After %q)", p.Status, p.Header.Get("Retry-After"))
	}
	stall.on.Store(false)
	p = b2.SubmitLogin(b2.Get("/login"), "alice", webtest.AlicePassword)
	code := totpCode(t, secret, clock)
	stall.on.Store(true)
	if got := b2.SubmitSecondFactor(p, "totp", code); got.Status != http.StatusServiceUnavailable || got.Header.Get("Retry-After") == "" {
		t.Fatalf("second-factor step with Redis stalled: %d (Retry-After %q)", got.Status, got.Header.Get("Retry-After"))
	}
	if acc := b2.Get("/account/consents"); acc.Status != http.StatusFound {
		t.Fatalf("signed in while Redis stalled: %d", acc.Status)
	}
	stall.on.Store(false)
	if got := b2.SubmitSecondFactor(p, "totp", code); got.Status != http.StatusOK || !strings.Contains(got.Body, "connected applications") {
		t.Fatalf("the same code once Redis answers: %d", got.Status)
	}
}
