package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// OIDC Core §5.1/§5.4: scope email gives email and email_verified, in the
// ID token and at userinfo; discovery lists exactly the claims served.
func TestEmailVerifiedClaim(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	ctx := context.Background()
	for _, verified := range []bool{true, false} {
		s.Alice.EmailVerified = verified
		if err := s.Store.UpdateUser(ctx, s.Alice); err != nil {
			t.Fatal(err)
		}
		b := s.NewBrowser(t)
		params, verifier := webtest.CodeRequest(webtest.FirstPartyID, "openid email")
		cb := s.Callback(t, b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword))
		tr := s.Exchange(t, cb.Get("code"), verifier, webtest.FirstPartyID, webtest.FirstPartySecret)
		body, _ := base64.RawURLEncoding.DecodeString(strings.Split(tr.Str("id_token"), ".")[1])
		var idt map[string]any
		if err := json.Unmarshal(body, &idt); err != nil {
			t.Fatal(err)
		}
		if idt["email"] != "alice@example.com" || idt["email_verified"] != verified {
			t.Fatalf("ID token %v, want email_verified %v", idt, verified)
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/oauth2/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tr.Str("access_token"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ui map[string]any
		err = json.NewDecoder(res.Body).Decode(&ui)
		res.Body.Close()
		if err != nil || ui["email"] != "alice@example.com" || ui["email_verified"] != verified {
			t.Fatalf("userinfo %v, %v", ui, err)
		}
	}

	res, err := http.Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var md struct {
		Claims []string `json:"claims_supported"`
	}
	if err := json.NewDecoder(res.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	want := []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
		"preferred_username", "name", "email", "email_verified", "acr", "amr"}
	slices.Sort(want)
	slices.Sort(md.Claims)
	if !slices.Equal(md.Claims, want) {
		t.Fatalf("claims_supported %v, want %v", md.Claims, want)
	}
}
