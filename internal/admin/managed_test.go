package admin_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// A client or user of the bootstrap file is the file's: the admin API
// shows whose it is and refuses to change or delete it (409, naming the
// file's setting), since the next apply would undo the change. Revoking
// a user's tokens changes nothing of the record and stays allowed.
func TestFileManagedRecordsAreReadOnly(t *testing.T) {
	h := newHarness(t)
	hash, _ := h.hasher.Hash("filed-secret-filed-secret")
	if err := h.Store.CreateClient(h.Ctx, &storage.Client{
		ID: "filed", SecretHash: hash, RedirectURIs: []string{"https://filed.example/cb"},
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"comments:read"}, ManagedBy: storage.ManagedByBootstrap,
	}); err != nil {
		t.Fatal(err)
	}
	dora := &storage.User{Username: "dora", PasswordHash: hash, Roles: []string{"user"}, ManagedBy: storage.ManagedByBootstrap}
	if err := h.Store.CreateUser(h.Ctx, dora); err != nil {
		t.Fatal(err)
	}
	client0, _ := h.Store.GetClient(h.Ctx, "filed")
	dora0, _ := h.Store.GetUser(h.Ctx, dora.ID)
	clientToken := h.token("someone", "filed", "comments:read")
	doraToken := h.token(dora.ID, "web", "comments:read")

	for path, what := range map[string]string{"/admin/v1/clients/filed": "client", "/admin/v1/users/" + dora.ID: "user"} {
		got := h.expect(t, h.do(t, http.MethodGet, path, h.bearer, nil), 200)
		if got.JSON["managed_by"] != "bootstrap" {
			t.Errorf("GET %s: managed_by = %v, want bootstrap: %s", what, got.JSON["managed_by"], got.Body)
		}
	}
	if got := h.expect(t, h.do(t, http.MethodGet, "/admin/v1/users/"+h.Alice.ID, h.bearer, nil), 200); got.JSON["managed_by"] != nil {
		t.Errorf("a user made elsewhere shows managed_by: %s", got.Body)
	}

	for _, tc := range []struct {
		name, method, path, detail string
		body                       any
	}{
		{"update client", http.MethodPut, "/admin/v1/clients/filed", `client "filed"`, with(validClient(""), "scopes", []string{"openid", "admin"})},
		{"rotate client secret", http.MethodPost, "/admin/v1/clients/filed/secret", `client "filed"`, nil},
		{"delete client", http.MethodDelete, "/admin/v1/clients/filed", `client "filed"`, nil},
		{"change user roles", http.MethodPatch, "/admin/v1/users/" + dora.ID, `user "dora"`, map[string]any{"roles": []string{"admin"}}},
		{"delete user", http.MethodDelete, "/admin/v1/users/" + dora.ID, `user "dora"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.expect(t, h.do(t, tc.method, tc.path, h.bearer, tc.body), http.StatusConflict)
			detail, _ := resp.JSON["detail"].(string)
			for _, want := range []string{tc.detail, "managed by the bootstrap file", "OAUTH2D_BOOTSTRAP"} {
				if !strings.Contains(detail, want) {
					t.Errorf("detail %q does not say %q", detail, want)
				}
			}
		})
	}
	if c, _ := h.Store.GetClient(h.Ctx, "filed"); !reflect.DeepEqual(c, client0) {
		t.Errorf("client after refused changes = %+v, want %+v", c, client0)
	}
	if u, _ := h.Store.GetUser(h.Ctx, dora.ID); !reflect.DeepEqual(u, dora0) {
		t.Errorf("user after refused changes = %+v, want %+v", u, dora0)
	}
	// A refused delete revoked nothing either.
	h.expect(t, h.do(t, http.MethodGet, "/api/v1/comments", clientToken, nil), 200)
	h.expect(t, h.do(t, http.MethodGet, "/api/v1/comments", doraToken, nil), 200)

	h.expect(t, h.do(t, http.MethodPost, "/admin/v1/users/"+dora.ID+"/revoke-tokens", h.bearer, nil), 200)
	h.expect(t, h.do(t, http.MethodGet, "/api/v1/comments", doraToken, nil), 401)
}
