package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// TestReusedClientIDStartsEmpty: a client deleted and registered again
// under its id, through the admin API or the CLI, gets none of the old
// client's grants back (RFC 6749 §10.4): its refresh token, a code issued
// before the deletion and the user's remembered consent are all dead.
func TestReusedClientIDStartsEmpty(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	cliEnv := map[string]string{"OAUTH2D_REDIS_URL": s.RedisURL, "OAUTH2D_REDIS_PREFIX": s.Store.Prefix()}
	inEmptyDir(t)
	registration := map[string]any{
		"redirect_uris": []string{s.RedirectURI}, "grant_types": []string{"authorization_code", "refresh_token"},
		"scopes": []string{"openid", "profile", "offline_access"},
	}
	viaAdmin := func(t *testing.T, id string) string {
		body := map[string]any{"id": id}
		for k, v := range registration {
			body[k] = v
		}
		var created struct {
			ClientSecret string `json:"client_secret"`
		}
		adminCall(t, s, http.MethodPost, "/admin/v1/clients", body, http.StatusCreated, &created)
		return created.ClientSecret
	}
	viaCLI := func(t *testing.T, id string) string {
		out := mustRun(t, cliEnv, "", "client", "create", "--json", "--id", id, "--redirect-uri", s.RedirectURI,
			"--grant-type", "authorization_code", "--grant-type", "refresh_token", "--scope", "openid profile offline_access")
		var created struct {
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(out), &created); err != nil {
			t.Fatalf("client create printed %q: %v", out, err)
		}
		return created.ClientSecret
	}
	for _, tc := range []struct {
		name     string
		create   func(t *testing.T, id string) string
		deleteIt func(t *testing.T, id string)
	}{
		{"admin API", viaAdmin, func(t *testing.T, id string) {
			adminCall(t, s, http.MethodDelete, "/admin/v1/clients/"+id, nil, http.StatusNoContent, nil)
		}},
		{"CLI", viaCLI, func(t *testing.T, id string) { mustRun(t, cliEnv, "", "client", "delete", id) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "reborn-" + tc.name[:3]
			oldSecret := tc.create(t, id)
			b := s.NewBrowser(t)
			params, verifier := webtest.CodeRequest(id, "openid offline_access")
			p := b.Authorize(params)
			p = b.SubmitConsent(b.SubmitLogin(p, "alice", webtest.AlicePassword), "allow")
			tokens := s.Exchange(t, s.Callback(t, p).Get("code"), verifier, id, oldSecret)
			refresh := tokens.Str("refresh_token")
			if tokens.Status != http.StatusOK || refresh == "" {
				t.Fatalf("first grant: %d %s", tokens.Status, tokens.Raw)
			}
			// Consent is remembered: prompt=none gets a code, kept unused.
			params, pendingVerifier := webtest.CodeRequest(id, "openid offline_access")
			params.Set("prompt", "none")
			pending := s.Callback(t, b.Authorize(params)).Get("code")
			if pending == "" {
				t.Fatal("prompt=none before the deletion gave no code")
			}

			tc.deleteIt(t, id)
			newSecret := tc.create(t, id)
			// Nothing of the old grants was cleaned up (as after a crash
			// right after the deletion): what kills them is the record.
			if c, err := s.Store.GetConsent(t.Context(), s.Alice.ID, id); err != nil {
				t.Fatalf("the old consent is gone (%v): this test would not show that the grants die without cleanup", err)
			} else if now, _ := s.Store.GetClient(t.Context(), id); now.OwnsGrant(c.ClientGeneration) {
				t.Fatal("the client registered again owns the old consent")
			}

			// The CLI's store tells the server's client cache over pub/sub:
			// wait until the server knows the new secret.
			var res webtest.TokenResponse
			deadline := time.Now().Add(5 * time.Second)
			for {
				res = s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, id, newSecret)
				if res.Str("error") != "invalid_client" || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if res.Status != http.StatusBadRequest || res.Str("error") != "invalid_grant" {
				t.Errorf("old refresh token after the id came back: %d %s, want invalid_grant", res.Status, res.Raw)
			}
			// Asked by the re-created client, which has the old one's id:
			// the family was not granted to it.
			if s.ActiveFor(t, refresh, id, newSecret) {
				t.Error("introspection calls the old refresh token active")
			}
			if res := s.Exchange(t, pending, pendingVerifier, id, newSecret); res.Str("error") != "invalid_grant" {
				t.Errorf("code issued before the deletion: %d %s, want invalid_grant", res.Status, res.Raw)
			}
			params, _ = webtest.CodeRequest(id, "openid offline_access")
			params.Set("prompt", "none")
			if got := s.Callback(t, b.Authorize(params)); got.Get("error") != "consent_required" {
				t.Errorf("prompt=none after the id came back: %v, want error=consent_required", got)
			}
			// The new client's own grants work.
			params, verifier = webtest.CodeRequest(id, "openid offline_access")
			p = b.SubmitConsent(b.Authorize(params), "allow")
			fresh := s.Exchange(t, s.Callback(t, p).Get("code"), verifier, id, newSecret)
			res = s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh.Str("refresh_token")}}, id, newSecret)
			if res.Status != http.StatusOK {
				t.Errorf("the new client's own refresh token: %d %s", res.Status, res.Raw)
			}
		})
	}
}

// adminCall calls the admin API of s with an admin token, checks the
// status and decodes the answer into out (when not nil).
func adminCall(t *testing.T, s *webtest.Server, method, path string, body any, want int, out any) {
	t.Helper()
	m := token.NewMinter(s.Keys, s.Issuer, []string{webtest.AdminAudience(s.Issuer)}, time.Now)
	at, _, err := m.MintAccess(context.Background(), token.AccessRequest{Subject: s.Admin.ID, ClientID: webtest.FirstPartyID,
		Scope: []string{"admin"}, Roles: []string{"admin"}, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+at)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var raw bytes.Buffer
	_, _ = raw.ReadFrom(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, raw.String(), want)
	}
	if out != nil {
		if err := json.Unmarshal(raw.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}
