package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// TestDeviceFlow is RFC 8628 end to end over HTTP: the device asks, the
// person signs in through /device (the login returns there with the
// code), confirms the application by name, consents on the usual page,
// and the device's poll gets tokens once: an access token, an ID token
// with the session's sid, and a refresh token that refreshes.
func TestDeviceFlow(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	da := s.StartDevice(t, url.Values{"scope": {"openid profile offline_access"}}, webtest.DeviceID, "")
	if da.Status != http.StatusOK || da.DeviceCode == "" || len(da.UserCode) != 9 || da.Interval != 1 || da.ExpiresIn != 600 {
		t.Fatalf("device authorization = %+v", da)
	}
	if da.VerificationURI != s.URL+"/device" || da.VerificationURIComplete != s.URL+"/device?user_code="+da.UserCode {
		t.Fatalf("verification URIs = %q, %q", da.VerificationURI, da.VerificationURIComplete)
	}
	if _, err := s.PollDevice(da.DeviceCode, webtest.DeviceID, ""); err == nil || !strings.Contains(err.Error(), "authorization_pending") {
		t.Fatalf("poll before approval = %v, want authorization_pending", err)
	}
	// Polling again at once is too fast.
	if _, err := s.PollDevice(da.DeviceCode, webtest.DeviceID, ""); err == nil || !strings.Contains(err.Error(), "slow_down") {
		t.Fatalf("early poll = %v, want slow_down", err)
	}

	b := s.NewBrowser(t)
	p := b.Follow(b.Get(da.VerificationURIComplete))
	// Not signed in: the login page, which brings the code back.
	p = b.SubmitLogin(p, "alice", webtest.AlicePassword)
	if !strings.Contains(p.Body, `id="user_code"`) || !strings.Contains(p.Body, da.UserCode) {
		t.Fatalf("after login: %d %s; want the device form with the code", p.Status, p.Body)
	}
	// Typed in lower case, without the dash: the same code.
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
	p = b.EnterUserCode(p, typed)
	if !strings.Contains(p.Body, "Living Room TV") || !strings.Contains(p.Body, `name="confirm"`) {
		t.Fatalf("confirmation page: %d %s; want the client's name and a button", p.Status, p.Body)
	}
	p = b.ConfirmDevice(p)
	if !strings.Contains(p.Body, `name="decision"`) || !strings.Contains(p.Body, "return to your device") {
		t.Fatalf("consent page: %d %s", p.Status, p.Body)
	}
	p = b.SubmitConsent(p, "allow")
	if !strings.Contains(p.Body, `id="device-approved"`) {
		t.Fatalf("after consent: %d %s", p.Status, p.Body)
	}
	// The code is answered: entering it again finds nothing.
	again := b.EnterUserCode(b.Get("/device"), da.UserCode)
	if again.Status != http.StatusBadRequest {
		t.Fatalf("answered code entered again: %d, want 400", again.Status)
	}

	// Another client cannot use the device code, nor burn it.
	if _, err := s.PollDevice(da.DeviceCode, webtest.DeviceConfID, webtest.DeviceConfSecret); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("another client's poll = %v, want invalid_grant", err)
	}
	tok, err := s.PollDevice(da.DeviceCode, webtest.DeviceID, "")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Str("access_token") == "" || tok.Str("id_token") == "" || tok.Str("refresh_token") == "" || tok.Str("scope") != "openid profile offline_access" {
		t.Fatalf("tokens = %v", tok)
	}
	if !s.Active(t, tok.Str("access_token")) {
		t.Fatal("access token not active")
	}
	if _, err := s.PollDevice(da.DeviceCode, webtest.DeviceID, ""); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("second poll after tokens = %v, want invalid_grant", err)
	}
	ref, err := s.TryPostToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Str("refresh_token")}}, webtest.DeviceID, "")
	if err != nil || ref.Str("access_token") == "" {
		t.Fatalf("refresh = %v, %v", ref, err)
	}
}

// TestDeviceDenied: the person denies on the consent page; the device is
// told access_denied, and keeps being told so.
func TestDeviceDenied(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	da := s.StartDevice(t, url.Values{"scope": {"openid"}}, webtest.DeviceConfID, webtest.DeviceConfSecret)
	b := s.NewBrowser(t)
	signIn(t, b, "bob", webtest.BobPassword)
	if p := b.AnswerDevice(da.UserCode, "deny"); !strings.Contains(p.Body, `id="device-denied"`) {
		t.Fatalf("after deny: %d %s", p.Status, p.Body)
	}
	for range 2 {
		if _, err := s.PollDevice(da.DeviceCode, webtest.DeviceConfID, webtest.DeviceConfSecret); err == nil || !strings.Contains(err.Error(), "access_denied") {
			t.Fatalf("poll after denial = %v, want access_denied", err)
		}
		time.Sleep(1100 * time.Millisecond)
	}
}

// TestDeviceConcurrentPolls: of many polls racing for one approval,
// exactly one gets tokens.
func TestDeviceConcurrentPolls(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	da := s.StartDevice(t, url.Values{"scope": {"openid offline_access"}}, webtest.DeviceID, "")
	b := s.NewBrowser(t)
	signIn(t, b, "alice", webtest.AlicePassword)
	if p := b.AnswerDevice(da.UserCode, "allow"); !strings.Contains(p.Body, `id="device-approved"`) {
		t.Fatalf("after allow: %d %s", p.Status, p.Body)
	}
	const n = 24
	var mu sync.Mutex
	got, refused := 0, map[string]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			tok, err := s.PollDevice(da.DeviceCode, webtest.DeviceID, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && tok.Str("access_token") != "":
				got++
			case err != nil:
				refused[err.Error()]++
			}
		})
	}
	wg.Wait()
	if got != 1 {
		t.Fatalf("%d polls got tokens, want exactly 1 (refusals: %v)", got, refused)
	}
	for msg := range refused {
		if !strings.Contains(msg, "invalid_grant") {
			t.Fatalf("a losing poll was answered %q, want invalid_grant", msg)
		}
	}
}

// TestDeviceWrongCodesBudget: wrong user codes from one address spend
// its budget (RFC 8628 §5.1). Of 1,000 wrong codes, no more than the
// budget are looked up; the rest are refused with 429 before any lookup,
// and then even the right code waits for the budget to refill.
func TestDeviceWrongCodesBudget(t *testing.T) {
	const budget = 10
	s := webtest.New(t, webtest.Options{DeviceWrongCodesPerIP: budget})
	da := s.StartDevice(t, url.Values{}, webtest.DeviceID, "")
	b := s.NewBrowser(t)
	signIn(t, b, "alice", webtest.AlicePassword)
	form := b.Get("/device")
	csrf := form.Hidden("csrf_token")
	wrong := []string{"BCDF-GHJK", "bcdfghjk", "ZZZZ-ZZZZ", "not a code", ""}
	looked, throttled := 0, 0
	for i := range 1000 {
		code := wrong[i%len(wrong)]
		if code == da.UserCode {
			code = "XXXX-XXXX"
		}
		p := b.Post("/device", url.Values{"user_code": {code}, "csrf_token": {csrf}})
		switch p.Status {
		case http.StatusBadRequest:
			looked++
		case http.StatusTooManyRequests:
			throttled++
			if p.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("wrong code %d answered %d %s", i, p.Status, p.Body)
		}
	}
	t.Logf("of 1000 wrong codes: %d judged wrong, %d refused by the budget", looked, throttled)
	if looked > budget+1 || throttled < 1000-budget-1 {
		t.Fatalf("%d wrong codes got through the budget of %d", looked, budget)
	}
	if p := b.Post("/device", url.Values{"user_code": {da.UserCode}, "csrf_token": {csrf}}); p.Status != http.StatusTooManyRequests {
		t.Fatalf("right code with the budget spent: %d, want 429", p.Status)
	}
	// A form without this session's CSRF token does nothing.
	if p := b.Post("/device", url.Values{"user_code": {da.UserCode}}); p.Status != http.StatusForbidden {
		t.Fatalf("form without CSRF token: %d, want 403", p.Status)
	}
}

// TestDeviceApprovalOutlivedByItsGrant: an approval whose client was
// deleted and registered again (a new Generation), or whose user was
// deleted, gives the poll nothing.
func TestDeviceApprovalOutlivedByItsGrant(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	ctx := t.Context()
	approve := func(clientID, secret string, user, pass string) webtest.DeviceAuthorization {
		t.Helper()
		da := s.StartDevice(t, url.Values{"scope": {"openid"}}, clientID, secret)
		b := s.NewBrowser(t)
		signIn(t, b, user, pass)
		if p := b.AnswerDevice(da.UserCode, "allow"); !strings.Contains(p.Body, `id="device-approved"`) {
			t.Fatalf("after allow: %d %s", p.Status, p.Body)
		}
		return da
	}
	t.Run("client recreated", func(t *testing.T) {
		da := approve(webtest.DeviceConfID, webtest.DeviceConfSecret, "alice", webtest.AlicePassword)
		c, err := s.Store.GetClient(ctx, webtest.DeviceConfID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Store.DeleteClient(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		again := *c
		again.Generation = "" // registered anew, as the admin API does
		if err := s.Store.CreateClient(ctx, &again); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PollDevice(da.DeviceCode, webtest.DeviceConfID, webtest.DeviceConfSecret); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("poll by the recreated client = %v, want invalid_grant", err)
		}
	})
	t.Run("user deleted", func(t *testing.T) {
		da := approve(webtest.DeviceID, "", "bob", webtest.BobPassword)
		if err := s.Store.DeleteUser(ctx, s.Bob.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PollDevice(da.DeviceCode, webtest.DeviceID, ""); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("poll after the user was deleted = %v, want invalid_grant", err)
		}
	})
}

// TestDeviceAuthorizationEndpoint: discovery names the endpoint and the
// grant; a client not registered for the grant is unauthorized_client;
// scope and resource are checked as at the authorization endpoint;
// public clients' authorizations spend their address's budget; a code
// past its lifetime is expired_token.
func TestDeviceAuthorizationEndpoint(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := webtest.New(t, webtest.Options{DevicePublicPerIP: 3, Now: clock})
	res, err := s.HTTPClient().Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Endpoint string   `json:"device_authorization_endpoint"`
		Grants   []string `json:"grant_types_supported"`
	}
	err = json.NewDecoder(res.Body).Decode(&md)
	res.Body.Close()
	if err != nil || md.Endpoint != s.URL+"/oauth2/device_authorization" || !slices.Contains(md.Grants, "urn:ietf:params:oauth:grant-type:device_code") {
		t.Fatalf("discovery: %+v, %v", md, err)
	}
	for _, tc := range []struct {
		name           string
		form           url.Values
		client, secret string
		status         int
		error          string
	}{
		{"not registered for the grant", url.Values{}, webtest.ThirdPartyID, webtest.ThirdPartySecret, 400, "unauthorized_client"},
		{"wrong secret", url.Values{}, webtest.DeviceConfID, "wrong-secret-0123456789", 401, "invalid_client"},
		{"scope beyond the registration", url.Values{"scope": {"openid nope"}}, webtest.DeviceConfID, webtest.DeviceConfSecret, 400, "invalid_scope"},
		{"unknown resource", url.Values{"resource": {"https://nowhere.example/api"}}, webtest.DeviceConfID, webtest.DeviceConfSecret, 400, "invalid_target"},
		{"fine", url.Values{"scope": {"openid"}, "resource": {s.Issuer + "/api"}}, webtest.DeviceConfID, webtest.DeviceConfSecret, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if da := s.StartDevice(t, tc.form, tc.client, tc.secret); da.Status != tc.status || da.Error != tc.error {
				t.Fatalf("answer %d %q, want %d %q", da.Status, da.Error, tc.status, tc.error)
			}
		})
	}
	var last webtest.DeviceAuthorization
	for i := range 3 {
		if last = s.StartDevice(t, url.Values{}, webtest.DeviceID, ""); last.Status != 200 {
			t.Fatalf("public client's authorization %d: %d %s", i+1, last.Status, last.Error)
		}
	}
	if da := s.StartDevice(t, url.Values{}, webtest.DeviceID, ""); da.Status != http.StatusTooManyRequests {
		t.Fatalf("public client's authorization past the budget: %d, want 429", da.Status)
	}
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	if _, err := s.PollDevice(last.DeviceCode, webtest.DeviceID, ""); err == nil || !strings.Contains(err.Error(), "expired_token") {
		t.Fatalf("poll past the code's lifetime = %v, want expired_token", err)
	}
}
