package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"pgregory.net/rapid"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// Second factors in the model (issue 18): a user enrols TOTP on the
// account page and removes it again; the code flow then passes the
// second-factor page, the password grant refuses enrolled users, and no
// token says more about how the user authenticated (amr, and the acr made
// of it) than the browser session proved.

// modelTOTP is an enrolled factor as the person's authenticator app holds it.
type modelTOTP struct {
	secret   string
	lastStep int64 // the last time step whose code was used
}

var (
	pwdAMR = []string{account.AMRPassword}
	mfaAMR = []string{account.AMRPassword, account.AMROTP, account.AMRMFA}
)

var modelTOTPSecret = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)

// hasFactor: u has a second factor, an authenticator app or a passkey
// (model_passkey_test.go), so the password alone signs u in nowhere.
func (u *modelUser) hasFactor() bool {
	_, passkey := modelAuthenticators.Load(u)
	return u.totp != nil || passkey
}

// freshCode is a code of the user's app whose time step was not used yet:
// the model's clock moves on to the next step when needed, as a person
// waits for the app to show a new code.
func (m *model) freshCode(t *rapid.T, f *modelTOTP) string {
	step := m.clk.Now().Unix() / 30
	if step <= f.lastStep {
		m.clk.Advance(time.Duration(f.lastStep-step+1) * 30 * time.Second)
		step = f.lastStep + 1
	}
	code, err := account.TOTPCode(f.secret, m.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.lastStep = step
	return code
}

// afterPassword answers the page that follows u's right password: the
// second-factor page when u has a factor (it must appear then, and only
// then), and records what the browser session proved.
func (m *model) afterPassword(t *rapid.T, u *modelUser, b *browser, p *page) *page {
	asked := strings.Contains(p.body, `action="/login/second-factor`) // the code form, or the passkey one
	a, hasPasskey := modelAuthenticators.Load(u)
	if asked != (u.totp != nil || hasPasskey) {
		t.Fatalf("second-factor page after %s's password: %v, enrolled: totp %v passkey %v (%d %.300s)", u.key, asked, u.totp != nil, hasPasskey, p.status, p.body)
	}
	if !asked {
		u.sessionAMR = pwdAMR
		return p
	}
	if p.status == 200 && strings.Contains(p.body, `name="password"`) {
		t.Fatalf("the login page after the password")
	}
	if u.totp == nil || hasPasskey && rapid.Bool().Draw(t, "passkey as second factor") {
		// The software authenticator is device-bound and verifies its
		// user; a passkey after the password is a second factor.
		cred, err := a.(*webtest.Authenticator).Get(p.passkeyOptions())
		if err != nil {
			t.Fatalf("passkey on the second-factor page: %v (%d %.300s)", err, p.status, p.body)
		}
		f := map[string][]string{"csrf_token": {p.hidden("csrf_token")}, "state": {p.hidden("state")}, "credential": {cred}}
		if req := p.hidden("req"); req != "" {
			f["req"] = []string{req}
		}
		p = b.follow(b.post("/login/second-factor/passkey", f))
		u.sessionAMR = []string{account.AMRPassword, "hwk", "user", account.AMRMFA}
		return p
	}
	f := map[string][]string{"method": {"totp"}, "code": {m.freshCode(t, u.totp)}, "csrf_token": {p.hidden("csrf_token")}}
	if req := p.hidden("req"); req != "" {
		f["req"] = []string{req}
	}
	p = b.follow(b.post("/login/second-factor", f))
	u.sessionAMR = mfaAMR
	return p
}

// signedIn signs u's browser in unless it is, with the second factor when
// u has one.
func (m *model) signedIn(t *rapid.T, u *modelUser) *browser {
	b := m.browserOf(u)
	p := b.follow(b.get("/account/security"))
	if !strings.Contains(p.body, `name="password"`) {
		return b
	}
	p = b.follow(b.post("/login", map[string][]string{"username": {u.username}, "password": {"model-password"},
		"csrf_token": {p.hidden("csrf_token")}}))
	m.afterPassword(t, u, b, p)
	return b
}

// enrolTOTP: u sets up an authenticator app on the account page. The
// confirming code steps the session up: it proved a second factor.
func (m *model) enrolTOTP(t *rapid.T) {
	u := m.pickUser(t)
	if u.deleted || u.totp != nil {
		return
	}
	b := m.signedIn(t, u)
	p := b.get("/account/security")
	p = b.follow(b.post("/account/security/totp", map[string][]string{"csrf_token": {p.hidden("csrf_token")}}))
	match := modelTOTPSecret.FindStringSubmatch(p.body)
	if match == nil {
		t.Fatalf("no enrolment on the account page: %d %.300s", p.status, p.body)
	}
	f := &modelTOTP{secret: match[1]}
	p = b.post("/account/security/totp/confirm", map[string][]string{"csrf_token": {p.hidden("csrf_token")},
		"enrolment": {p.hidden("enrolment")}, "code": {m.freshCode(t, f)}})
	if p.status != 200 || !strings.Contains(p.body, `id="recovery-codes"`) {
		t.Fatalf("confirming the enrolment: %d %.300s", p.status, p.body)
	}
	u.totp, u.sessionAMR = f, mfaAMR
}

// removeTOTP: u turns the factor off with the password. The session keeps
// what it proved.
func (m *model) removeTOTP(t *rapid.T) {
	u := m.pickUser(t)
	if u.deleted || u.totp == nil {
		return
	}
	b := m.signedIn(t, u)
	p := b.get("/account/security")
	p = b.post("/account/security/totp/remove", map[string][]string{"csrf_token": {p.hidden("csrf_token")}, "code": {"model-password"}})
	if p.status != 303 {
		t.Fatalf("removing the factor: %d %.300s", p.status, p.body)
	}
	u.totp = nil
}

// checkAuthn checks that a 200 token answer says the user authenticated
// with amr, exactly: the access token (RFC 9068 §2.2.3) and the ID token,
// amr and the acr account.ACR makes of it; never more than the session
// (or the password grant) proved.
func (m *model) checkAuthn(res response, amr []string) {
	t := m.t
	wantACR := account.ACRPassword
	if slices.Contains(amr, account.AMRMFA) {
		wantACR = account.ACRMFA
	}
	for _, name := range []string{"access_token", "id_token"} {
		raw := res.str(name)
		if raw == "" {
			continue
		}
		var c struct {
			ACR string   `json:"acr"`
			AMR []string `json:"amr"`
		}
		parts := strings.Split(raw, ".")
		body, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil || json.Unmarshal(body, &c) != nil {
			t.Fatalf("%s payload unreadable: %v", name, err)
		}
		if c.ACR != wantACR || !slices.Equal(c.AMR, amr) {
			t.Fatalf("INVARIANT 1: %s says acr %q amr %v; the sign-in proved %v (acr %q)", name, c.ACR, c.AMR, amr, wantACR)
		}
	}
}

// resetFactors: an administrator removes every second factor of a user
// (a lost phone). The user's tokens are revoked and sessions end, as
// revoke-tokens does; the next sign-in needs the password alone (or
// enrolment, for a role that requires a factor), and no later token says
// more than that sign-in proved.
func (m *model) resetFactors(t *rapid.T) {
	u := m.pickUser(t)
	if u.deleted {
		return
	}
	if st, body := m.admin.do(t, http.MethodDelete, "/admin/v1/users/"+u.id+"/factors", nil); st != http.StatusNoContent {
		t.Fatalf("admin reset of %s's factors: %d %s", u.key, st, body)
	}
	for _, f := range m.families {
		if f.user == u && f.lastAccess != "" {
			m.denied = append(m.denied, f.lastAccess)
		}
	}
	m.userRevoked(u)
	u.totp = nil
	modelAuthenticators.Delete(u)
}

// authTimeOf is the auth_time of a JWT (RFC 9068 §2.2.3).
func authTimeOf(t *rapid.T, raw string) time.Time {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40q", raw)
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		AuthTime int64 `json:"auth_time"`
	}
	if err != nil || json.Unmarshal(body, &c) != nil || c.AuthTime == 0 {
		t.Fatalf("no auth_time in the access token: %v", err)
	}
	return time.Unix(c.AuthTime, 0)
}
