package webtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// DeviceAuthorization is the device authorization endpoint's answer (RFC
// 8628 §3.2) with its status.
type DeviceAuthorization struct {
	Status                  int
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
	Error                   string `json:"error"`
}

// StartDevice posts form to the device authorization endpoint as
// clientID (Basic authentication when secret is set).
func (s *Server) StartDevice(t testing.TB, form url.Values, clientID, secret string) DeviceAuthorization {
	t.Helper()
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/oauth2/device_authorization", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	res, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out DeviceAuthorization
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	out.Status = res.StatusCode
	return out
}

// PollDevice asks the token endpoint once for the device code's tokens;
// an error answer is an error that names its status and code.
func (s *Server) PollDevice(deviceCode, clientID, secret string) (TokenResponse, error) {
	res, err := s.TryPostToken(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}}, clientID, secret)
	if err == nil && res.Status != http.StatusOK {
		err = fmt.Errorf("webtest: token endpoint: %d %s", res.Status, res.Str("error"))
	}
	return res, err
}

// EnterUserCode submits code on the device page p (the code form) and
// returns the page that follows (the confirmation, or the form again).
func (b *Browser) EnterUserCode(p *Page, code string) *Page {
	b.t.Helper()
	if !strings.Contains(p.Body, `name="user_code"`) {
		b.t.Fatalf("webtest: not the device page: %d %s", p.Status, p.Body)
	}
	return b.Post("/device", url.Values{"user_code": {code}, "csrf_token": {p.Hidden("csrf_token")}})
}

// ConfirmDevice presses Continue on the confirmation page p and follows
// to the consent page, or to the page that says the device was answered.
func (b *Browser) ConfirmDevice(p *Page) *Page {
	b.t.Helper()
	if !strings.Contains(p.Body, `name="confirm"`) {
		b.t.Fatalf("webtest: not the device confirmation page: %d %s", p.Status, p.Body)
	}
	return b.Follow(b.Post("/device", url.Values{"user_code": {p.Hidden("user_code")}, "confirm": {"yes"}, "csrf_token": {p.Hidden("csrf_token")}}))
}

// AnswerDevice is the person's whole visit for a signed-in browser: the
// device page with the code prefilled (verification_uri_complete), the
// confirmation, and decision ("allow" or "deny") on the consent page
// when one is shown. It returns the last page.
func (b *Browser) AnswerDevice(userCode, decision string) *Page {
	b.t.Helper()
	p := b.Follow(b.Get("/device?" + url.Values{"user_code": {userCode}}.Encode()))
	p = b.ConfirmDevice(b.EnterUserCode(p, formValue(p, userCode)))
	if strings.Contains(p.Body, `name="decision"`) {
		p = b.SubmitConsent(p, decision)
	}
	return p
}

// formValue is the code the device form shows prefilled, else code.
func formValue(p *Page, code string) string {
	if i := strings.Index(p.Body, `id="user_code"`); i >= 0 {
		if j := strings.Index(p.Body[i:], `value="`); j >= 0 {
			rest := p.Body[i+j+len(`value="`):]
			if k := strings.IndexByte(rest, '"'); k > 0 {
				return rest[:k]
			}
		}
	}
	return code
}
