package web_test

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// newTestClock is a clock the test moves (clientmeta_test.go): TOTP codes
// change every 30 s.
func newTestClock() *testClock { return &testClock{now: time.Now()} }

var (
	totpSecretRE   = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	recoveryCodeRE = regexp.MustCompile(`<li><code>([a-z0-9-]+)</code></li>`)
)

// totpCode is what an authenticator app shows for secret at the clock's time.
func totpCode(t testing.TB, secret string, clock *testClock) string {
	t.Helper()
	code, err := account.TOTPCode(secret, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// signInPassword signs b in as username with the password alone (the
// account page, no authorization request).
func signInPassword(t *testing.T, b *webtest.Browser, username, password string) *webtest.Page {
	t.Helper()
	return b.SubmitLogin(b.Get(web.LoginPath), username, password)
}

// enrolTOTP enrols a TOTP factor for the signed-in user of b through the
// account page, and returns its secret and the recovery codes shown.
func enrolTOTP(t testing.TB, b *webtest.Browser, clock *testClock) (string, []string) {
	t.Helper()
	p := b.Get("/account/security")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `id="begin-totp"`) {
		t.Fatalf("security page: %d %s", p.Status, p.Body)
	}
	p = b.Follow(b.Post("/account/security/totp", url.Values{"csrf_token": {p.Hidden("csrf_token")}}))
	m := totpSecretRE.FindStringSubmatch(p.Body)
	if m == nil || !strings.Contains(p.Body, `<svg`) {
		t.Fatalf("no enrolment shown: %d %s", p.Status, p.Body)
	}
	secret := m[1]
	p = b.Post("/account/security/totp/confirm", url.Values{"csrf_token": {p.Hidden("csrf_token")},
		"enrolment": {p.Hidden("enrolment")}, "code": {totpCode(t, secret, clock)}})
	var codes []string
	for _, c := range recoveryCodeRE.FindAllStringSubmatch(p.Body, -1) {
		codes = append(codes, c[1])
	}
	if p.Status != http.StatusOK || len(codes) != account.RecoveryCodeCount {
		t.Fatalf("confirm: %d, %d recovery codes: %s", p.Status, len(codes), p.Body)
	}
	return secret, codes
}

// claimsOf decodes a JWT's payload (the tests' server signed it; the
// signature is checked elsewhere).
func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func amrOf(c map[string]any) []string {
	var out []string
	list, _ := c["amr"].([]any)
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// TestSecondFactorSignIn: after enrolment a password alone no longer
// signs in; the TOTP code of the second-factor page does, once: the code
// that confirmed the enrolment and a code just used are refused, and the
// tokens say what the sign-in proved, refreshed ones too.
func TestSecondFactorSignIn(t *testing.T) {
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now})
	b := s.NewBrowser(t)
	signInPassword(t, b, "alice", webtest.AlicePassword)
	secret, _ := enrolTOTP(t, b, clock)
	confirmCode := totpCode(t, secret, clock)

	b2 := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid profile offline_access")
	p := b2.SubmitLogin(b2.Authorize(params), "alice", webtest.AlicePassword)
	if !strings.Contains(p.Body, `id="verify-totp"`) || !strings.Contains(p.Body, `id="recovery-option"`) {
		t.Fatalf("after the password: %d %s", p.Status, p.Body)
	}
	if strings.Contains(p.Body, `id="passkey-option"`) {
		t.Error("a passkey option is offered to a user without passkeys")
	}
	if acc := b2.Get("/account/consents"); acc.Status != http.StatusFound {
		t.Fatalf("the password alone signed in: account page %d", acc.Status)
	}
	if got := b2.SubmitSecondFactor(p, "totp", confirmCode); got.Status != http.StatusBadRequest {
		t.Fatalf("the enrolment's code again: %d, want 400", got.Status)
	}
	clock.Advance(30 * time.Second)
	code := totpCode(t, secret, clock)
	if got := b2.SubmitSecondFactor(p, "totp", "000000"); got.Status != http.StatusBadRequest || !strings.Contains(got.Body, "not right") {
		t.Fatalf("a wrong code: %d", got.Status)
	}
	// The wrong code stored nothing: the right code of the same step
	// still works.
	cb := s.Callback(t, b2.SubmitSecondFactor(p, "totp", code))
	tok := s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret)
	if tok.Status != http.StatusOK {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Raw)
	}
	want := []string{"pwd", "otp", "mfa"}
	for name, jwt := range map[string]string{"id token": tok.Str("id_token"), "access token": tok.Str("access_token")} {
		c := claimsOf(t, jwt)
		if c["acr"] != account.ACRMFA || !slices.Equal(amrOf(c), want) || c["auth_time"] == nil {
			t.Errorf("%s: acr %v amr %v auth_time %v, want %s %v", name, c["acr"], c["amr"], c["auth_time"], account.ACRMFA, want)
		}
	}
	ref := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}}, webtest.FirstPartyID, webtest.FirstPartySecret)
	if c := claimsOf(t, ref.Str("access_token")); c["acr"] != account.ACRMFA || !slices.Equal(amrOf(c), want) {
		t.Errorf("refreshed access token: acr %v amr %v", c["acr"], c["amr"])
	}

	// The code just used signs nobody in again, in another browser.
	b3 := s.NewBrowser(t)
	p3 := b3.SubmitLogin(b3.Get("/login"), "alice", webtest.AlicePassword)
	if got := b3.SubmitSecondFactor(p3, "totp", code); got.Status != http.StatusBadRequest {
		t.Fatalf("a used code in another browser: %d, want 400", got.Status)
	}
}

// TestSecondFactorRecoveryCode: a recovery code signs in once; the
// account page then says one was used and how many are left.
func TestSecondFactorRecoveryCode(t *testing.T) {
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now})
	b := s.NewBrowser(t)
	signInPassword(t, b, "alice", webtest.AlicePassword)
	_, codes := enrolTOTP(t, b, clock)

	b2 := s.NewBrowser(t)
	p := b2.SubmitLogin(b2.Get("/login"), "alice", webtest.AlicePassword)
	if got := b2.SubmitSecondFactor(p, "recovery", strings.ToUpper(codes[3])); got.Status != http.StatusOK || !strings.Contains(got.Body, "connected applications") {
		t.Fatalf("recovery code: %d %s", got.Status, got.Body)
	}
	sec := b2.Get("/account/security")
	if !strings.Contains(sec.Body, "A recovery code was used on") || !strings.Contains(sec.Body, "9 recovery codes left") {
		t.Errorf("account page: %s", sec.Body)
	}
	b3 := s.NewBrowser(t)
	p3 := b3.SubmitLogin(b3.Get("/login"), "alice", webtest.AlicePassword)
	if got := b3.SubmitSecondFactor(p3, "recovery", codes[3]); got.Status != http.StatusBadRequest {
		t.Fatalf("the same recovery code again: %d, want 400", got.Status)
	}
	// A signed-in session alone cannot replace the factor.
	if got := b2.Post("/account/security/totp", url.Values{"csrf_token": {sec.Hidden("csrf_token")}}); got.Status != http.StatusBadRequest {
		t.Fatalf("a second enrolment over the first: %d", got.Status)
	}
	// New codes void the old ones.
	regen := b2.Post("/account/security/recovery", url.Values{"csrf_token": {sec.Hidden("csrf_token")}})
	if n := len(recoveryCodeRE.FindAllString(regen.Body, -1)); regen.Status != http.StatusOK || n != account.RecoveryCodeCount {
		t.Fatalf("regenerate: %d, %d codes", regen.Status, n)
	}
	if got := b3.SubmitSecondFactor(p3, "recovery", codes[4]); got.Status != http.StatusBadRequest {
		t.Fatalf("an old recovery code after regeneration: %d, want 400", got.Status)
	}
}

// TestSecondFactorBudget: wrong codes spend the password's failure
// budget of the user and address; once it is spent even the right code
// is refused with 429.
func TestSecondFactorBudget(t *testing.T) {
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now, Limits: ratelimit.Limits{PerUsernameIP: 3, PerIP: 100, PerUsername: 100}})
	b := s.NewBrowser(t)
	signInPassword(t, b, "alice", webtest.AlicePassword)
	secret, _ := enrolTOTP(t, b, clock)
	clock.Advance(30 * time.Second)

	b2 := s.NewBrowser(t)
	p := b2.SubmitLogin(b2.Get("/login"), "alice", webtest.AlicePassword)
	for i := range 3 {
		if got := b2.SubmitSecondFactor(p, "totp", "111111"); got.Status != http.StatusBadRequest {
			t.Fatalf("wrong code %d: %d", i, got.Status)
		}
	}
	got := b2.SubmitSecondFactor(p, "totp", totpCode(t, secret, clock))
	if got.Status != http.StatusTooManyRequests || got.Header.Get("Retry-After") == "" {
		t.Fatalf("after the budget: %d (Retry-After %q), want 429", got.Status, got.Header.Get("Retry-After"))
	}
	if acc := b2.Get("/account/consents"); acc.Status != http.StatusFound {
		t.Fatalf("signed in past the budget: %d", acc.Status)
	}
}

// TestSecondFactorPromptNone: a request that needs the MFA class, from a
// session signed in with a password alone, answers login_required under
// prompt=none instead of a page.
func TestSecondFactorPromptNone(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	signInPassword(t, b, "bob", webtest.BobPassword)
	params, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid")
	params.Set("prompt", "none")
	params.Set("acr_values", account.ACRMFA)
	if got := s.Callback(t, b.Authorize(params)); got.Get("error") != "login_required" {
		t.Fatalf("prompt=none with acr_values unmet: %v", got)
	}
	// Without prompt=none the person is sent to enrol (bob has no factor).
	params.Del("prompt")
	if p := b.Authorize(params); !strings.Contains(p.Body, `id="confirm-totp"`) {
		t.Fatalf("step-up page: %d %s", p.Status, p.Body)
	}
	// A password-level request is answered at once, with the password class.
	params.Set("acr_values", account.ACRPassword)
	params.Set("prompt", "none")
	if got := s.Callback(t, b.Authorize(params)); got.Get("code") == "" {
		t.Fatalf("acr_values met: %v", got)
	}
	// A client registered with require_mfa asks for the second factor
	// whatever the request says.
	c, err := s.Store.GetClient(t.Context(), webtest.FirstPartyID)
	if err != nil {
		t.Fatal(err)
	}
	c.RequireMFA = true
	if err := s.Store.UpsertClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if got := s.Callback(t, b.Authorize(params)); got.Get("error") != "login_required" {
		t.Fatalf("prompt=none to a require_mfa client: %v", got)
	}
	// Without prompt=none: bob enrols on the way (step-up of his
	// password session), and the request then gets its code, at the MFA
	// class.
	params.Del("prompt")
	params.Del("acr_values")
	p := b.Authorize(params)
	m := totpSecretRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no enrolment for a require_mfa client: %d %s", p.Status, p.Body)
	}
	code, err := account.TOTPCode(m[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes := b.SubmitSecondFactor(p, "enrol", code)
	next := regexp.MustCompile(`<a id="continue" href="([^"]+)"`).FindStringSubmatch(codes.Body)
	if next == nil {
		t.Fatalf("no way on from the recovery codes: %d %s", codes.Status, codes.Body)
	}
	cb := s.Callback(t, b.Follow(b.Get(html.UnescapeString(next[1]))))
	tok := s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret)
	if c := claimsOf(t, tok.Str("id_token")); c["acr"] != account.ACRMFA {
		t.Fatalf("after step-up: acr %v", c["acr"])
	}
	// Discovery lists the classes.
	d := b.Get("/.well-known/openid-configuration")
	if !strings.Contains(d.Body, `"acr_values_supported":["`+account.ACRPassword+`","`+account.ACRMFA+`"]`) {
		t.Errorf("discovery: %s", d.Body)
	}
}

// TestSecondFactorRequiredRole: a user of mfa.required_roles without a
// factor enrols right after the password, before being signed in, and
// the password grant refuses them.
func TestSecondFactorRequiredRole(t *testing.T) {
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now, MFARequiredRoles: []string{"admin"}})
	addPasswordClient(t, s)
	if got := mfaPasswordGrant(t, s, "admin", webtest.AdminPassword); got.Status != http.StatusBadRequest || got.Str("error") != "invalid_grant" ||
		!strings.Contains(got.Str("error_description"), "second factor") {
		t.Fatalf("password grant for a required role: %d %s", got.Status, got.Raw)
	}
	if got := mfaPasswordGrant(t, s, "bob", webtest.BobPassword); got.Status != http.StatusOK {
		t.Fatalf("password grant for a user without factor: %d %s", got.Status, got.Raw)
	}
	b := s.NewBrowser(t)
	p := b.SubmitLogin(b.Get("/login"), "admin", webtest.AdminPassword)
	m := totpSecretRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no enrolment after the password: %d %s", p.Status, p.Body)
	}
	if acc := b.Get("/account/consents"); acc.Status != http.StatusFound {
		t.Fatalf("signed in before enrolling: %d", acc.Status)
	}
	got := b.SubmitSecondFactor(p, "enrol", totpCode(t, m[1], clock))
	if n := len(recoveryCodeRE.FindAllString(got.Body, -1)); got.Status != http.StatusOK || n != account.RecoveryCodeCount {
		t.Fatalf("enrol: %d %s", got.Status, got.Body)
	}
	if acc := b.Get("/account/consents"); acc.Status != http.StatusOK {
		t.Fatalf("not signed in after enrolling: %d", acc.Status)
	}
	f, err := s.Store.GetSecondFactors(t.Context(), s.Admin.ID)
	if err != nil || f.TOTP == nil || strings.Contains(f.TOTP.Sealed, m[1]) {
		t.Fatalf("stored factor %+v, %v (secret must be sealed)", f, err)
	}
	// Alice, once enrolled, is refused by the password grant too.
	ba := s.NewBrowser(t)
	signInPassword(t, ba, "alice", webtest.AlicePassword)
	enrolTOTP(t, ba, clock)
	if got := mfaPasswordGrant(t, s, "alice", webtest.AlicePassword); got.Status != http.StatusBadRequest || got.Str("error") != "invalid_grant" {
		t.Fatalf("password grant for an enrolled user: %d %s", got.Status, got.Raw)
	}
	if got := mfaPasswordGrant(t, s, "alice", "wrong"); !strings.Contains(got.Str("error_description"), "invalid username or password") {
		t.Fatalf("a wrong password must not learn of the factor: %s", got.Raw)
	}
}

const mfaPasswordClientID, mfaPasswordClientSecret = "mfa-password-app", "password-app-secret-0123456789"

func addPasswordClient(t *testing.T, s *webtest.Server) {
	t.Helper()
	c := &storage.Client{ID: mfaPasswordClientID, SecretHash: testenv.Hash(t, mfaPasswordClientSecret), FirstParty: true,
		GrantTypes: []string{"password", "refresh_token"}, Scopes: webtest.AllScopes}
	if err := s.Store.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

func mfaPasswordGrant(t *testing.T, s *webtest.Server, username, password string) webtest.TokenResponse {
	t.Helper()
	return s.PostToken(t, url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}, "scope": {"openid"}},
		mfaPasswordClientID, mfaPasswordClientSecret)
}

// TestAdminAPIStepUp: with mfa.required_roles naming admin, the admin API
// asks a user's token for the MFA class (RFC 9470) and takes a client's
// own token as before.
func TestAdminAPIStepUp(t *testing.T) {
	s := webtest.New(t, webtest.Options{MFARequiredRoles: []string{"admin"}})
	minter := token.NewMinter(s.Keys, s.Issuer, nil, time.Now)
	call := func(req token.AccessRequest) *http.Response {
		t.Helper()
		req.Audience, req.Scope, req.Lifetime = []string{webtest.AdminAudience(s.Issuer)}, []string{"admin"}, time.Minute
		raw, _, err := minter.MintAccess(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest(http.MethodGet, s.URL+"/admin/v1/clients", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		res, err := s.HTTPClient().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	admin := token.AccessRequest{Subject: s.Admin.ID, ClientID: webtest.FirstPartyID, Roles: []string{"admin"}, AuthTime: time.Now()}
	for name, acr := range map[string]string{"password": account.ACRPassword, "none": ""} {
		admin.ACR = acr
		res := call(admin)
		chal := res.Header.Get("WWW-Authenticate")
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(chal, `error="insufficient_user_authentication"`) ||
			!strings.Contains(chal, `acr_values="`+account.ACRMFA+`"`) {
			t.Errorf("%s: %d %q, want 401 insufficient_user_authentication", name, res.StatusCode, chal)
		}
	}
	admin.ACR, admin.AMR = account.ACRMFA, []string{"pwd", "otp", "mfa"}
	if res := call(admin); res.StatusCode != http.StatusOK {
		t.Errorf("an MFA token: %d", res.StatusCode)
	}
	if res := call(token.AccessRequest{Subject: webtest.ServiceID, ClientID: webtest.ServiceID}); res.StatusCode == http.StatusUnauthorized {
		t.Errorf("a client's own token: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
}
