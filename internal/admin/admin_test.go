package admin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/token"
)

func TestMain(m *testing.M) { resourcetest.Main(m) }

// harness is resourcetest's harness with the admin API mounted beside
// /api/v1 as the route table (package httpserver) mounts it, and a token
// with scope admin for its user Admin.
type harness struct {
	*resourcetest.Harness
	t      *testing.T
	hasher *secret.Hasher
	bearer string // the admin's token, scope admin
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, account.Policy{})
}

// newHarnessWith is newHarness with the registration policy of a
// configuration.
func newHarnessWith(t *testing.T, registration account.Policy) *harness {
	t.Helper()
	rh := resourcetest.New(t, token.AlgES256)
	hasher := secret.NewHasher(secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	adm, err := admin.New(admin.Deps{Revoker: rh.Revoker, Clients: rh.Store, Users: rh.Store, Resources: rh.Store, Factors: rh.Store, Hasher: hasher, Registration: registration})
	if err != nil {
		t.Fatal(err)
	}
	g := rh.Engine.Group("/admin/v1", rh.Auth.RequireScopes(account.ScopeAdmin), adm.RequireAdmin, adm.Audit)
	g.GET("/clients", adm.ListClients)
	g.POST("/clients", adm.CreateClient)
	g.GET("/clients/:id", adm.GetClient)
	g.PUT("/clients/:id", adm.UpdateClient)
	g.DELETE("/clients/:id", adm.DeleteClient)
	g.POST("/clients/:id/secret", adm.RotateSecret)
	g.GET("/resources", adm.ListResources)
	g.POST("/resources", adm.CreateResource)
	g.GET("/resources/*id", adm.GetResource)
	g.PUT("/resources/*id", adm.UpdateResource)
	g.DELETE("/resources/*id", adm.DeleteResource)
	g.GET("/users", adm.ListUsers)
	g.POST("/users", adm.CreateUser)
	g.GET("/users/:id", adm.GetUser)
	g.PATCH("/users/:id", adm.UpdateUser)
	g.DELETE("/users/:id", adm.DeleteUser)
	g.POST("/users/:id/revoke-tokens", adm.RevokeUserTokens)
	h := &harness{Harness: rh, t: t, hasher: hasher}
	h.bearer = h.token(h.Admin.ID, "cli", account.ScopeAdmin)
	return h
}

// token mints what the issuance policy would for sub: a user's roles as
// the scopes carry them (account.RolesCarried), none for a client.
func (h *harness) token(sub, clientID string, scopes ...string) string {
	h.t.Helper()
	req := token.AccessRequest{Subject: sub, ClientID: clientID, Scope: scopes, Lifetime: resourcetest.TokenTTL}
	if u, err := h.Store.GetUser(context.Background(), sub); err == nil {
		req.Roles = account.RolesCarried(u.Roles, scopes)
	}
	raw, _ := h.Mint(h.t, req)
	return raw
}

// do sends body with bearer (see testenv.Do). Every response is checked
// never to carry a hash or a password. Like expect and secretIs, it fails
// the t it is given: a subtest's own, where it runs in one.
func (h *harness) do(t testing.TB, method, path, bearer string, body any) testenv.Response {
	t.Helper()
	resp := h.Do(t, method, path, bearer, body)
	for _, leak := range []string{"$argon2id$", `"secret_hash":`, `"password_hash":`, `"password":`, "carol-password"} {
		if strings.Contains(resp.Body.String(), leak) {
			t.Fatalf("%s %s: response contains %q: %s", method, path, leak, resp.Body)
		}
	}
	return resp
}

func (h *harness) expect(t testing.TB, resp testenv.Response, status int) testenv.Response {
	t.Helper()
	if resp.Code != status {
		t.Fatalf("status %d, want %d: %s", resp.Code, status, resp.Body)
	}
	if status >= 400 && resp.Header().Get("WWW-Authenticate") == "" {
		if ct := resp.Header().Get("Content-Type"); ct != problem.ContentType {
			t.Fatalf("error Content-Type %q, want %s", ct, problem.ContentType)
		}
	}
	return resp
}

func TestAdminNeedsScopeAdmin(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name      string
		bearer    string
		status    int
		challenge string
	}{
		{"no token", "", 401, `Bearer realm="` + resourcetest.Issuer + `"`},
		{"token without scope admin", h.token(h.Admin.ID, "cli", "profile"), 403,
			`Bearer realm="` + resourcetest.Issuer + `", error="insufficient_scope", error_description="the access token lacks a scope this request requires", scope="admin"`},
		{"forged token", "eyJhbGciOiJub25lIn0.e30.", 401,
			`Bearer realm="` + resourcetest.Issuer + `", error="invalid_token", error_description="the access token is invalid or expired"`},
		{"admin token", h.bearer, 200, ""},
		{"machine client with scope admin", h.token("ops-bot", "ops-bot", account.ScopeAdmin), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/admin/v1/clients", "/admin/v1/users"} {
				resp := h.do(t, http.MethodGet, path, tc.bearer, nil)
				if resp.Code != tc.status || resp.Header().Get("WWW-Authenticate") != tc.challenge {
					t.Fatalf("GET %s: %d %q, want %d %q", path, resp.Code, resp.Header().Get("WWW-Authenticate"), tc.status, tc.challenge)
				}
			}
		})
	}
}

func validClient(id string) map[string]any {
	return map[string]any{
		"id": id, "name": "Demo", "redirect_uris": []string{"https://app.example/cb"},
		"grant_types": []string{"authorization_code", "refresh_token"}, "scopes": []string{"openid", "comments:read"},
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestCreateClientValidation(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		body   any
		status int
	}{
		{"confidential", validClient("app-1"), 201},
		{"duplicate id", validClient("app-1"), 409},
		{"generated id", with(validClient(""), "id", ""), 201},
		{"bad id", validClient("bad id!"), 400},
		{"brace in id", validClient("a{b}"), 400},
		{"unknown grant type", with(validClient("x1"), "grant_types", []string{"implicit"}), 400},
		{"no grant type", with(validClient("x2"), "grant_types", []string{}), 400},
		{"public with client_credentials", with(validClient("x3"), "public", true, "grant_types", []string{"client_credentials"}), 400},
		{"third-party password grant", with(validClient("x4"), "grant_types", []string{"password"}), 400},
		{"http redirect off loopback", with(validClient("x5"), "redirect_uris", []string{"http://app.example/cb"}), 400},
		{"redirect with fragment", with(validClient("x6"), "redirect_uris", []string{"https://app.example/cb#x"}), 400},
		{"javascript redirect", with(validClient("x7"), "redirect_uris", []string{"javascript:alert(1)"}), 400},
		{"bad scope", with(validClient("x8"), "scopes", []string{"a b"}), 400},
		{"client_uri", with(validClient("x10"), "client_uri", "https://app.example/"), 201},
		{"client_uri with userinfo", with(validClient("x11"), "client_uri", "https://app.example@evil.example/"), 400},
		{"client_uri over http off loopback", with(validClient("x12"), "client_uri", "http://app.example/"), 400},
		{"secret supplied", with(validClient("x9"), "client_secret", "mine"), 400},
		{"not JSON", "id=x", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients", h.bearer, tc.body), tc.status)
			if tc.status == 400 && resp.JSON["detail"] == nil {
				t.Fatalf("problem without detail: %s", resp.Body)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		body := with(validClient("bad id"), "grant_types", []string{"implicit", "password"}, "scopes", []string{"a\"b"})
		resp := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients", h.bearer, body), 400)
		var fields []string
		for _, e := range resp.JSON["errors"].([]any) {
			fields = append(fields, e.(map[string]any)["field"].(string))
		}
		if strings.Join(fields, ",") != "id,grant_types,grant_types,scopes" {
			t.Fatalf("error fields %v in %s, want id, grant_types twice, scopes", fields, resp.Body)
		}
	})
}

// A backchannel_logout_uri on an internal host is a 400 with a field error
// that names the setting allowing it; with that setting, it registers.
func TestClientBackchannelURIMustNotBeInternal(t *testing.T) {
	internal := []string{"http://127.0.0.1:6379/", "https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/", "https://[::1]:9200/", "http://localhost:9200/"}
	h := newHarness(t)
	h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients", h.bearer, validClient("app")), 201)
	for _, uri := range internal {
		for _, req := range []struct{ method, path, id string }{
			{http.MethodPost, "/admin/v1/clients", "new"},
			{http.MethodPut, "/admin/v1/clients/app", "app"},
		} {
			resp := h.expect(t, h.do(t, req.method, req.path, h.bearer, with(validClient(req.id), "backchannel_logout_uri", uri)), 400)
			errs, _ := resp.JSON["errors"].([]any)
			if len(errs) != 1 {
				t.Fatalf("%s %s: errors %s", req.method, uri, resp.Body)
			}
			fe := errs[0].(map[string]any)
			if detail, _ := fe["detail"].(string); fe["field"] != "backchannel_logout_uri" || !strings.Contains(detail, "outbound.allow_internal") {
				t.Fatalf("%s %s: error %v, want field backchannel_logout_uri naming outbound.allow_internal", req.method, uri, fe)
			}
		}
	}

	cfg := config.Default()
	cfg.Outbound.AllowInternal = []string{"127.0.0.1", "::1", "10.0.0.0/8", "169.254.169.254"}
	policy, err := account.PolicyOf(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	h = newHarnessWith(t, policy)
	for i, uri := range internal {
		h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients", h.bearer, with(validClient(fmt.Sprint("app-", i)), "backchannel_logout_uri", uri)), 201)
	}
}

func TestClientLifecycle(t *testing.T) {
	h := newHarness(t)
	created := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients", h.bearer, validClient("app")), 201)
	secret1, _ := created.JSON["client_secret"].(string)
	if len(secret1) < 43 || created.Header().Get("Location") != "/admin/v1/clients/app" || created.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create: secret %q, headers %v", secret1, created.Header())
	}
	h.secretIs(t, "app", secret1, true)

	h.expect(t, h.do(t, http.MethodPut, "/admin/v1/clients/app", h.bearer, with(validClient(""), "client_uri", "https://app.example/")), 200)
	got := h.expect(t, h.do(t, http.MethodGet, "/admin/v1/clients/app", h.bearer, nil), 200)
	if got.JSON["id"] != "app" || got.JSON["client_secret"] != nil || got.JSON["client_uri"] != "https://app.example/" {
		t.Fatalf("get: %s", got.Body)
	}
	h.expect(t, h.do(t, http.MethodGet, "/admin/v1/clients/nope", h.bearer, nil), 404)
	h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients", h.bearer, with(validClient("web"), "public", true)), 201)
	list := h.expect(t, h.do(t, http.MethodGet, "/admin/v1/clients", h.bearer, nil), 200)
	if clients := list.JSON["clients"].([]any); len(clients) != 2 || clients[0].(map[string]any)["id"] != "app" {
		t.Fatalf("list: %s", list.Body)
	}

	// Update keeps the secret; the id cannot change.
	upd := h.expect(t, h.do(t, http.MethodPut, "/admin/v1/clients/app", h.bearer, with(validClient(""), "scopes", []string{"openid"})), 200)
	if upd.JSON["client_secret"] != nil || upd.JSON["client"].(map[string]any)["scopes"].([]any)[0] != "openid" {
		t.Fatalf("update: %s", upd.Body)
	}
	h.secretIs(t, "app", secret1, true)
	h.expect(t, h.do(t, http.MethodPut, "/admin/v1/clients/app", h.bearer, validClient("other")), 400)
	h.expect(t, h.do(t, http.MethodPut, "/admin/v1/clients/app", h.bearer, with(validClient(""), "grant_types", []string{"bogus"})), 400)
	h.expect(t, h.do(t, http.MethodPut, "/admin/v1/clients/nope", h.bearer, validClient("")), 404)

	// Rotation: the new secret works, the old one no longer does.
	rot := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients/app/secret", h.bearer, nil), 200)
	secret2, _ := rot.JSON["client_secret"].(string)
	if secret2 == "" || secret2 == secret1 {
		t.Fatalf("rotate: %s", rot.Body)
	}
	h.secretIs(t, "app", secret2, true)
	h.secretIs(t, "app", secret1, false)
	h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients/web/secret", h.bearer, nil), 409)

	// Public and back: the secret goes, and a new one is issued.
	h.expect(t, h.do(t, http.MethodPut, "/admin/v1/clients/app", h.bearer, with(validClient(""), "public", true)), 200)
	if c, _ := h.Store.GetClient(h.Ctx, "app"); c.SecretHash != "" {
		t.Fatal("a public client kept its secret hash")
	}
	back := h.expect(t, h.do(t, http.MethodPut, "/admin/v1/clients/app", h.bearer, validClient("")), 200)
	secret3, _ := back.JSON["client_secret"].(string)
	h.secretIs(t, "app", secret3, true)

	// Delete revokes the tokens already issued to the client.
	appToken := h.token("someone", "app", "comments:read")
	h.expect(t, h.do(t, http.MethodGet, "/api/v1/comments", appToken, nil), 200)
	h.expect(t, h.do(t, http.MethodDelete, "/admin/v1/clients/app", h.bearer, nil), 204)
	h.expect(t, h.do(t, http.MethodGet, "/admin/v1/clients/app", h.bearer, nil), 404)
	h.expect(t, h.do(t, http.MethodDelete, "/admin/v1/clients/app", h.bearer, nil), 404)
	h.expect(t, h.do(t, http.MethodGet, "/api/v1/comments", appToken, nil), 401)
}

// secretIs checks clear against the client's stored hash.
func (h *harness) secretIs(t testing.TB, id, clear string, want bool) {
	t.Helper()
	c, err := h.Store.GetClient(h.Ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := h.hasher.Verify(c.SecretHash, clear)
	if err != nil || ok != want {
		t.Fatalf("secret of %s verifies: %v (%v), want %v", id, ok, err, want)
	}
}

func TestUserLifecycle(t *testing.T) {
	h := newHarness(t)
	newUser := map[string]any{"username": "carol", "password": "carol-password", "roles": []string{"user"}, "email": "carol@example.com"}
	tests := []struct {
		name   string
		body   any
		status int
	}{
		{"valid", newUser, 201},
		{"username taken", with(newUser, "roles", []string{}), 409},
		{"short password", with(newUser, "username", "dave", "password", "short"), 400},
		{"no password", map[string]any{"username": "dave"}, 400},
		{"space in username", with(newUser, "username", "da ve"), 400},
		{"bad role", with(newUser, "username", "dave", "roles", []string{"Admin!"}), 400},
		{"duplicate role", with(newUser, "username", "dave", "roles", []string{"user", "user"}), 400},
		{"bad email", with(newUser, "username", "dave", "email", "nope"), 400},
		{"unknown member", with(newUser, "username", "dave", "password_hash", "$argon2id$x"), 400},
	}
	var carolID string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/users", h.bearer, tc.body), tc.status)
			if tc.status == 201 {
				carolID, _ = resp.JSON["id"].(string)
			}
		})
	}
	carol, err := h.Store.GetUser(h.Ctx, carolID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.hasher.Verify(carol.PasswordHash, "carol-password"); !ok {
		t.Fatal("the stored hash does not verify the password")
	}
	got := h.expect(t, h.do(t, http.MethodGet, "/admin/v1/users/"+carolID, h.bearer, nil), 200)
	if got.JSON["username"] != "carol" || got.JSON["email"] != "carol@example.com" {
		t.Fatalf("get: %s", got.Body)
	}
	list := h.expect(t, h.do(t, http.MethodGet, "/admin/v1/users", h.bearer, nil), 200)
	var names []string
	for _, u := range list.JSON["users"].([]any) {
		names = append(names, u.(map[string]any)["username"].(string))
	}
	if strings.Join(names, ",") != "admin,alice,bob,carol" { // the harness's users and carol, by username
		t.Fatalf("list: %s", list.Body)
	}

	// A role change revokes the tokens that carry the old roles.
	carolToken := h.token(carolID, "web", "comments:read")
	h.expect(t, h.do(t, http.MethodGet, "/api/v1/comments", carolToken, nil), 200)
	h.expect(t, h.do(t, http.MethodPatch, "/admin/v1/users/"+carolID, h.bearer, map[string]any{"name": "Carol"}), 200)
	h.expect(t, h.do(t, http.MethodGet, "/api/v1/comments", carolToken, nil), 200)
	patched := h.expect(t, h.do(t, http.MethodPatch, "/admin/v1/users/"+carolID, h.bearer, map[string]any{"roles": []string{"user", "admin"}}), 200)
	if roles := patched.JSON["roles"].([]any); len(roles) != 2 || patched.JSON["name"] != "Carol" {
		t.Fatalf("patch: %s", patched.Body)
	}
	h.expect(t, h.do(t, http.MethodGet, "/api/v1/comments", carolToken, nil), 401)
	for name, body := range map[string]any{
		"bad role":           map[string]any{"roles": []string{"ROOT"}},
		"password not here":  map[string]any{"password": "new-password"},
		"username not here":  map[string]any{"username": "caroline"},
		"roles not an array": map[string]any{"roles": "admin"},
	} {
		t.Run("patch "+name, func(t *testing.T) {
			h.expect(t, h.do(t, http.MethodPatch, "/admin/v1/users/"+carolID, h.bearer, body), 400)
		})
	}
	h.expect(t, h.do(t, http.MethodPatch, "/admin/v1/users/nope", h.bearer, map[string]any{"name": "x"}), 404)

	h.expect(t, h.do(t, http.MethodDelete, "/admin/v1/users/"+carolID, h.bearer, nil), 204)
	h.expect(t, h.do(t, http.MethodGet, "/admin/v1/users/"+carolID, h.bearer, nil), 404)
	h.expect(t, h.do(t, http.MethodDelete, "/admin/v1/users/"+carolID, h.bearer, nil), 404)
}

func TestRevokeUserTokens(t *testing.T) {
	h := newHarness(t)
	aliceAccess := h.token(h.Alice.ID, "web", "comments:read")
	family, familyAccess := h.NewFamily(t, h.Alice, "mobile")
	bobAccess := h.token(h.Bob.ID, "web", "comments:read")

	resp := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/users/"+h.Alice.ID+"/revoke-tokens", h.bearer, nil), 200)
	if resp.JSON["revoked_refresh_families"] != float64(1) || resp.JSON["not_before"] == nil {
		t.Fatalf("revoke-tokens: %s", resp.Body)
	}
	for _, tc := range []struct {
		name   string
		bearer string
		status int
	}{
		{"alice's access token", aliceAccess, 401},
		{"alice's refreshable session", familyAccess, 401},
		{"bob's token", bobAccess, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.expect(t, h.do(t, http.MethodGet, "/api/v1/comments", tc.bearer, nil), tc.status)
		})
	}
	if _, err := h.Store.CheckRefresh(h.Ctx, family.ID, family.TokenHash); !errors.Is(err, storage.ErrRevoked) {
		t.Fatalf("family: %v, want storage.ErrRevoked", err)
	}
	h.expect(t, h.do(t, http.MethodPost, "/admin/v1/users/nope/revoke-tokens", h.bearer, nil), 404)
}
