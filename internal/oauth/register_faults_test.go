package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

type noRevoke struct{}

func (noRevoke) RevokeClient(context.Context, string) error { return nil }

// While Redis stalls, registration and its management answer 503 with
// Retry-After within about the command timeout, never 500 nor hang; once
// it resumes the endpoint works again, and the stall left no client
// counted that is not stored.
func TestRegistrationWhileRedisStalls(t *testing.T) {
	rs := testredis.NewPrivate(t)
	const timeout = 300 * time.Millisecond
	store, err := storage.Open(context.Background(), storage.Options{URL: rs.URL, Prefix: rs.Prefix, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	issuer := "http://127.0.0.1"
	cfg := config.Registration{Mode: config.RegistrationOpen, Scopes: []string{"openid"}, PerIP: 100, MaxClients: 100}
	reg, err := oauth.NewRegistrar(oauth.RegistrarDeps{Issuer: issuer, Config: cfg,
		Policy: account.Policy{}, Store: store, Revoker: noRevoke{},
		Hasher: secret.NewHasher(secret.DefaultParams()), Logger: slog.New(slog.DiscardHandler),
		Budget: ratelimit.New(store.Redis(), store.Prefix()+"register:", ratelimit.Limits{PerIP: cfg.PerIP})})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.POST(oauth.RegistrationPath, oauth.RecordClientIP, reg.Register)
	r.GET(oauth.RegistrationPath+"/:client_id", reg.Read)
	r.DELETE(oauth.RegistrationPath+"/:client_id", reg.Delete)
	do := func(method, path, token string) (*httptest.ResponseRecorder, map[string]any) {
		body, _ := json.Marshal(map[string]any{"redirect_uris": []string{"https://app.example/cb"}, "token_endpoint_auth_method": "none"})
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		return w, out
	}
	w, created := do(http.MethodPost, oauth.RegistrationPath, "")
	if w.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	id, tok := created["client_id"].(string), created["registration_access_token"].(string)

	rs.Pause(t)
	for _, tc := range []struct{ method, path, token string }{
		{http.MethodPost, oauth.RegistrationPath, ""},
		{http.MethodGet, oauth.RegistrationPath + "/" + id, tok},
		{http.MethodDelete, oauth.RegistrationPath + "/" + id, tok},
	} {
		start := time.Now()
		w, body := do(tc.method, tc.path, tc.token)
		if d := time.Since(start); d > 4*timeout+time.Second {
			t.Errorf("%s %s answered after %v", tc.method, tc.path, d)
		}
		if w.Code != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s while Redis stalls: %d %s %v", tc.method, tc.path, w.Code, w.Body, w.Header())
		}
	}
	rs.Resume(t)

	// Commands queued during the stall have run by now or never will.
	deadline := time.Now().Add(5 * time.Second)
	for {
		w, _ = do(http.MethodGet, oauth.RegistrationPath+"/"+id, tok)
		if w.Code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if w, _ := do(http.MethodPost, oauth.RegistrationPath, ""); w.Code != http.StatusCreated {
		t.Fatalf("register after the stall: %d %s", w.Code, w.Body)
	}
	n, err := store.SelfRegisteredClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	clients, err := store.ListClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != len(clients) {
		t.Fatalf("%d self-registered clients counted, %d stored", n, len(clients))
	}
}
