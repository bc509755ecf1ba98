package web_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// Dynamic client registration records each registration, refusal, update
// and delete as an audit event, as the admin API records its client
// changes.
func TestRegistrationIsAudited(t *testing.T) {
	logs := &logBuffer{}
	s := webtest.New(t, webtest.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Registration: &config.Registration{Mode: config.RegistrationOpen, Scopes: []string{"openid", "profile"}, MaxClients: 10}})
	a := &auditTrail{t: t, s: s, logs: logs}
	send := func(method, path, token string, body any) (int, map[string]any) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	st, reg := send(http.MethodPost, "/oauth2/register", "", map[string]any{"redirect_uris": []string{s.RedirectURI}, "scope": "openid"})
	if st != http.StatusCreated {
		t.Fatalf("register: %d %v", st, reg)
	}
	id, tok := reg["client_id"].(string), reg["registration_access_token"].(string)
	a.want(map[string]string{"event": audit.ClientRegistered, "outcome": audit.Success, "actor": "registration", "client": id, "scope": "openid"})

	if st, _ := send(http.MethodPost, "/oauth2/register", "", map[string]any{"redirect_uris": []string{s.RedirectURI}, "scope": "admin"}); st != 400 {
		t.Fatalf("admin scope registration: %d", st)
	}
	a.want(map[string]string{"event": audit.ClientRegistered, "outcome": audit.Failure, "reason": "invalid_client_metadata"})

	if st, _ := send(http.MethodPut, "/oauth2/register/"+id, tok, map[string]any{"client_id": id, "redirect_uris": []string{s.RedirectURI}, "scope": "openid profile"}); st != 200 {
		t.Fatalf("update: %d", st)
	}
	a.want(map[string]string{"event": audit.ClientUpdated, "outcome": audit.Success, "actor": id, "client": id, "scope": "openid profile"})

	if st, _ := send(http.MethodDelete, "/oauth2/register/"+id, "wrong-token", nil); st != 401 {
		t.Fatalf("delete with a wrong token: %d", st)
	}
	a.want(map[string]string{"event": audit.ClientDeleted, "outcome": audit.Failure, "reason": "invalid_token"})
	if st, _ := send(http.MethodDelete, "/oauth2/register/"+id, tok, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	a.want(map[string]string{"event": audit.ClientDeleted, "outcome": audit.Success, "actor": id, "client": id})
	a.want(map[string]string{"event": audit.TokensCutOff, "subject": id})
}
