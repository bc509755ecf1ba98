package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// Issue 9 item 5: userinfo, like the API, refuses a request with two
// Authorization headers (RFC 6750 §3.1 invalid_request), even when both
// carry the same valid token.
func TestUserinfoRefusesTwoAuthorizationHeaders(t *testing.T) {
	s := newBruteForceServer(t, ratelimit.Limits{})
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {webtest.AlicePassword}, "scope": {"openid profile"}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+oauth.TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(passwordClientID, passwordClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	userinfo := func(headers ...string) (int, string) {
		r, _ := http.NewRequest(http.MethodGet, s.URL+oauth.UserinfoPath, nil)
		for _, h := range headers {
			r.Header.Add("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	bearer := "Bearer " + tok.AccessToken
	if st, _ := userinfo(bearer); st != http.StatusOK {
		t.Fatalf("one header: %d", st)
	}
	st, challenge := userinfo(bearer, bearer)
	if st != http.StatusBadRequest || !strings.Contains(challenge, `error="invalid_request"`) {
		t.Fatalf("two headers: %d %q", st, challenge)
	}
}
