package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The default configuration's built-in resources (tokens.audience and
// tokens.admin_audience of issuer http://localhost:8080).
const (
	builtinAPI   = "http://localhost:8080/api"
	builtinAdmin = "http://localhost:8080/admin"
)

func TestResourceCommands(t *testing.T) {
	env, st := adminEnv(t)
	ctx := context.Background()
	const id = "https://orders.example/api"

	out := mustRun(t, env, "", "resource", "put", "--json", id, "--name", "Orders",
		"--scope", "orders:read orders:write", "--access-token-ttl", "5m", "--require-dpop")
	var put admin.ResourceView
	if err := json.Unmarshal([]byte(out), &put); err != nil || put.ID != id || put.CreatedAt.IsZero() {
		t.Fatalf("resource put --json printed %q (%v)", out, err)
	}
	stored, err := st.GetResource(ctx, id)
	if err != nil || !slices.Equal(stored.Scopes, []string{"orders:read", "orders:write"}) ||
		stored.AccessTokenTTL != 5*time.Minute || !stored.RequireDPoP || stored.Name != "Orders" {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	// put replaces the whole registration and keeps the creation time.
	mustRun(t, env, "", "resource", "put", "--id", id, "--scope", "orders:read")
	again, _ := st.GetResource(ctx, id)
	if !slices.Equal(again.Scopes, []string{"orders:read"}) || again.RequireDPoP || again.Name != "" || !again.CreatedAt.Equal(stored.CreatedAt) {
		t.Fatalf("after a second put %+v, want only the new flags, created as before", again)
	}

	out = mustRun(t, env, "", "resource", "list", "--json")
	var list struct{ Resources []admin.ResourceView }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	var ids, owners []string
	for _, r := range list.Resources {
		ids, owners = append(ids, r.ID), append(owners, r.ManagedBy)
	}
	if !slices.Equal(ids, []string{builtinAdmin, builtinAPI, id}) || !slices.Equal(owners, []string{"builtin", "builtin", ""}) {
		t.Fatalf("resource list --json: ids %v, owners %v", ids, owners)
	}
	if out := mustRun(t, env, "", "resource", "list"); !strings.Contains(out, id) || !strings.Contains(out, "builtin") {
		t.Errorf("resource list table:\n%s", out)
	}
	if out := mustRun(t, env, "", "resource", "get", id); !strings.Contains(out, "orders:read") || !strings.Contains(out, "created_at") {
		t.Errorf("resource get:\n%s", out)
	}
	var got admin.ResourceView
	if err := json.Unmarshal([]byte(mustRun(t, env, "", "resource", "get", builtinAPI, "--json")), &got); err != nil ||
		got.ManagedBy != "builtin" || !slices.Contains(got.Scopes, "comments:read") {
		t.Errorf("resource get of the built-in API = %+v, %v", got, err)
	}

	mustRun(t, env, "", "resource", "delete", id)
	if _, err := st.GetResource(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("resource after delete: %v", err)
	}
	for _, args := range [][]string{{"resource", "get", id}, {"resource", "delete", id}} {
		res := runCmd(t, env, "", args...)
		if exitCode(res.err) != 1 || !errors.Is(res.err, storage.ErrNotFound) {
			t.Errorf("%v on a deleted resource = %v, want exit 1, not found", args, res.err)
		}
	}
}

// Bad input, a built-in identifier and a record of the bootstrap file
// are refused with exit code 2, before anything is written.
func TestResourceCommandsRefuse(t *testing.T) {
	env, st := adminEnv(t)
	ctx := context.Background()
	if err := st.CreateResource(ctx, &storage.Resource{ID: "https://filed.example", Scopes: []string{"filed"}, ManagedBy: storage.ManagedByBootstrap}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"relative id", []string{"resource", "put", "/api"}, []string{"id:", "absolute URI"}},
		{"fragment", []string{"resource", "put", "https://orders.example/#x"}, []string{"id:", "without fragment"}},
		{"too long", []string{"resource", "put", "https://orders.example/" + strings.Repeat("a", storage.MaxResourceIDLen)}, []string{"id:", "at most"}},
		{"http not on loopback", []string{"resource", "put", "http://orders.example"}, []string{"id:", "must be https"}},
		{"server scope", []string{"resource", "put", "https://orders.example", "--scope", "openid"}, []string{"scopes:", "authorization server"}},
		{"ttl too long", []string{"resource", "put", "https://orders.example", "--access-token-ttl", "2h"}, []string{"access_token_ttl:"}},
		{"no id", []string{"resource", "put"}, []string{"missing resource id"}},
		{"put built-in", []string{"resource", "put", builtinAPI, "--scope", "x"}, []string{"built in"}},
		{"delete built-in", []string{"resource", "delete", builtinAdmin}, []string{"built in"}},
		{"put file's", []string{"resource", "put", "https://filed.example"}, []string{`resource "https://filed.example"`, "managed by the bootstrap file", "OAUTH2D_BOOTSTRAP"}},
		{"delete file's", []string{"resource", "delete", "https://filed.example"}, []string{"managed by the bootstrap file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(t, env, "", tc.args...)
			if exitCode(res.err) != 2 {
				t.Fatalf("oauth2d %s = %v, want exit 2", strings.Join(tc.args, " "), res.err)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.err.Error(), w) {
					t.Errorf("%q does not say %q", res.err, w)
				}
			}
		})
	}
	list, _ := st.ListResources(ctx)
	if len(list) != 1 || list[0].ManagedBy != storage.ManagedByBootstrap || !slices.Equal(list[0].Scopes, []string{"filed"}) {
		t.Fatalf("stored after refusals: %v", list)
	}
}

// A resource put with the CLI while a server runs on the same Redis is
// issued for at once, and a deleted one no longer: the server's registry
// cache follows the CLI's announcements.
func TestResourceCommandsReachARunningServer(t *testing.T) {
	env, st := adminEnv(t)
	env["OAUTH2D_KEYS_ID_TOKEN_ALGORITHM"] = "ES256" // no RSA key to generate
	ctx := context.Background()
	const id, clientSecret = "https://orders.example/api", "svc-secret-0123456789"
	hash, err := secret.NewHasher(secret.DefaultParams()).Hash(clientSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, &storage.Client{ID: "svc", SecretHash: hash, GrantTypes: []string{"client_credentials"},
		Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	base, _, stop := serveUntilReady(t, env)
	t.Cleanup(func() { _ = stop() })
	askToken := func() (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}, "resource": {id}}
		req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", clientSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}
	if code, body := askToken(); code != http.StatusBadRequest || body["error"] != "invalid_target" {
		t.Fatalf("before the resource is put: %d %v, want 400 invalid_target", code, body)
	}

	// The announcement reaches the server's cache asynchronously: soon,
	// not with the CLI's exit (the cache's own TTL is a minute).
	soon := func(what string, ok func(code int, body map[string]any) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			code, body := askToken()
			if ok(code, body) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %d %v after 5s", what, code, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	mustRun(t, env, "", "resource", "put", id, "--scope", "orders:read")
	soon("after resource put, want a token for it", func(code int, body map[string]any) bool {
		access, _ := body["access_token"].(string)
		return code == http.StatusOK && slices.Equal(audienceOf(t, access), []string{id})
	})
	mustRun(t, env, "", "resource", "delete", id)
	soon("after resource delete, want 400 invalid_target", func(code int, body map[string]any) bool {
		return code == http.StatusBadRequest && body["error"] == "invalid_target"
	})
}

// audienceOf reads the aud of a JWT, a string or a list, without
// verifying it: the server that signed it is the test's own.
func audienceOf(t *testing.T, jwt string) []string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	if err := json.Unmarshal(claims.Aud, &many); err != nil {
		t.Fatalf("aud %s: %v", claims.Aud, err)
	}
	return many
}
