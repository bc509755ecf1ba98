package oauth_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

func TestUserinfo(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	minter := token.NewMinter(s.Keys, s.Issuer, []string{s.Issuer + "/api"}, time.Now)
	mint := func(t *testing.T, sub, scope string) (string, token.AccessClaims) {
		t.Helper()
		raw, claims, err := minter.MintAccess(context.Background(), token.AccessRequest{Subject: sub, ClientID: webtest.ThirdPartyID,
			Scope: strings.Fields(scope), Lifetime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return raw, claims
	}
	call := func(t *testing.T, method, auth string, body url.Values, query string) answer {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(body.Encode())
		}
		req, _ := http.NewRequest(method, s.URL+"/oauth2/userinfo"+query, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return send(t, req)
	}
	full, _ := mint(t, s.Alice.ID, "openid profile email")
	revoked, revokedClaims := mint(t, s.Alice.ID, "openid")
	if err := s.Store.RevokeJTI(t.Context(), revokedClaims.JTI, revokedClaims.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	openidOnly, _ := mint(t, s.Alice.ID, "openid")
	noOpenID, _ := mint(t, s.Alice.ID, "profile")
	ghost, _ := mint(t, "u-deleted", "openid profile")
	clientToken, _ := mint(t, webtest.ThirdPartyID, "openid")
	cutOff, _ := mint(t, s.Bob.ID, "openid")
	if err := s.Store.SetCutoff(t.Context(), storage.Cutoff{Principal: storage.SubjectCutoff(s.Bob.ID),
		NotBefore: time.Now().Add(time.Second), Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		method     string
		auth       string
		body       url.Values
		query      string
		status     int
		wantErr    string // in WWW-Authenticate
		wantClaims map[string]any
	}{
		{name: "profile and email by GET", method: "GET", auth: "Bearer " + full, status: 200, wantClaims: map[string]any{
			"sub": s.Alice.ID, "preferred_username": "alice", "name": "Alice Liddell", "email": "alice@example.com"}},
		{name: "by POST", method: "POST", auth: "bearer " + full, status: 200, wantClaims: map[string]any{"sub": s.Alice.ID}},
		{name: "openid only gives sub only", method: "GET", auth: "Bearer " + openidOnly, status: 200,
			wantClaims: map[string]any{"sub": s.Alice.ID, "preferred_username": nil, "email": nil}},
		{name: "no token", method: "GET", status: 401},
		{name: "basic auth", method: "GET", auth: "Basic YTpi", status: 401},
		{name: "token in the query", method: "GET", query: "?access_token=" + full, status: 400, wantErr: "invalid_request"},
		{name: "token in the body", method: "POST", body: url.Values{"access_token": {full}}, auth: "Bearer " + full, status: 400, wantErr: "invalid_request"},
		{name: "tampered", method: "GET", auth: "Bearer " + full[:len(full)-4] + "AAAA", status: 401, wantErr: "invalid_token"},
		{name: "revoked", method: "GET", auth: "Bearer " + revoked, status: 401, wantErr: "invalid_token"},
		{name: "no openid scope", method: "GET", auth: "Bearer " + noOpenID, status: 403, wantErr: "insufficient_scope"},
		{name: "user gone", method: "GET", auth: "Bearer " + ghost, status: 401, wantErr: "invalid_token"},
		{name: "user cut off (signed out everywhere)", method: "GET", auth: "Bearer " + cutOff, status: 401, wantErr: "invalid_token"},
		{name: "client credentials token", method: "GET", auth: "Bearer " + clientToken, status: 401, wantErr: "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := call(t, tc.method, tc.auth, tc.body, tc.query)
			body := res.body
			if res.status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", res.status, tc.status, body)
			}
			if res.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", res.header.Get("Cache-Control"))
			}
			challenge := res.header.Get("WWW-Authenticate")
			if tc.status != 200 && !strings.HasPrefix(challenge, `Bearer realm="`+s.Issuer+`"`) {
				t.Errorf("WWW-Authenticate = %q", challenge)
			}
			if tc.wantErr != "" && (!strings.Contains(challenge, `error="`+tc.wantErr+`"`) || body["error"] != tc.wantErr) {
				t.Errorf("challenge %q body %v, want error %s", challenge, body, tc.wantErr)
			}
			if tc.status == 401 && tc.wantErr == "" && strings.Contains(challenge, "error=") {
				t.Errorf("a request without a token got an error code: %q", challenge)
			}
			for k, want := range tc.wantClaims {
				if body[k] != want {
					t.Errorf("%s = %v, want %v", k, body[k], want)
				}
			}
		})
	}
}
