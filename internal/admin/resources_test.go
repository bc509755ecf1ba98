package admin_test

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
)

const adminAudience = "http://localhost:8080/admin"

// newResourceHarness is newHarness with the policy of a configuration
// whose built-in resources are resourcetest's API and an admin API.
func newResourceHarness(t *testing.T) *harness {
	t.Helper()
	cfg := config.Default()
	cfg.Tokens.Audience = []string{resourcetest.Audience}
	cfg.Tokens.AdminAudience = adminAudience
	policy, err := account.PolicyOf(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessWith(t, policy)
}

// resourcePath is where a resource lives in the admin API: its id
// percent-encoded as one path segment.
func resourcePath(id string) string { return "/admin/v1/resources/" + url.PathEscape(id) }

func validResource(id string) map[string]any {
	return map[string]any{"id": id, "name": "Orders", "scopes": []string{"orders:read", "orders:write"}, "access_token_ttl": "5m"}
}

func TestResourceLifecycle(t *testing.T) {
	h := newResourceHarness(t)
	const id = "https://orders.example/api"

	created := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/resources", h.bearer, validResource(id)), 201)
	if loc := created.Header().Get("Location"); loc != resourcePath(id) {
		t.Fatalf("Location %q, want %q", loc, resourcePath(id))
	}
	if created.JSON["id"] != id || created.JSON["access_token_ttl"] != "5m0s" || created.JSON["managed_by"] != nil {
		t.Fatalf("created %s", created.Body)
	}
	stored, err := h.Store.GetResource(h.Ctx, id)
	if err != nil || stored.AccessTokenTTL != 5*time.Minute || stored.Name != "Orders" {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	h.expect(t, h.do(t, http.MethodPost, "/admin/v1/resources", h.bearer, validResource(id)), http.StatusConflict)

	// The id as one escaped segment, or as it is: either names it.
	for _, path := range []string{resourcePath(id), "/admin/v1/resources/" + id} {
		if got := h.expect(t, h.do(t, http.MethodGet, path, h.bearer, nil), 200); got.JSON["id"] != id {
			t.Fatalf("GET %s: %s", path, got.Body)
		}
	}

	changed := with(validResource(""), "scopes", []string{"orders:read"}, "require_dpop", true)
	got := h.expect(t, h.do(t, http.MethodPut, resourcePath(id), h.bearer, changed), 200)
	if got.JSON["require_dpop"] != true || got.JSON["access_token_ttl"] != "5m0s" {
		t.Fatalf("PUT: %s", got.Body)
	}
	after, _ := h.Store.GetResource(h.Ctx, id)
	if !reflect.DeepEqual(after.Scopes, []string{"orders:read"}) || !after.RequireDPoP || !after.CreatedAt.Equal(stored.CreatedAt) {
		t.Fatalf("after PUT: %+v, want the new scopes and DPoP, created as before", after)
	}
	h.expect(t, h.do(t, http.MethodPut, resourcePath(id), h.bearer, validResource("https://other.example")), 400)
	h.expect(t, h.do(t, http.MethodPut, resourcePath("https://unknown.example"), h.bearer, validResource("")), 404)

	h.expect(t, h.do(t, http.MethodDelete, resourcePath(id), h.bearer, nil), 204)
	if _, err := h.Store.GetResource(h.Ctx, id); err == nil {
		t.Fatal("resource still stored after DELETE")
	}
	h.expect(t, h.do(t, http.MethodGet, resourcePath(id), h.bearer, nil), 404)
	h.expect(t, h.do(t, http.MethodDelete, resourcePath(id), h.bearer, nil), 404)
}

// The list shows the built-in resources beside the stored ones, sorted
// by id, and pages like the client list.
func TestListResources(t *testing.T) {
	h := newResourceHarness(t)
	for _, id := range []string{"https://b.example", "https://a.example"} {
		h.expect(t, h.do(t, http.MethodPost, "/admin/v1/resources", h.bearer, validResource(id)), 201)
	}
	want := []string{adminAudience, resourcetest.Audience, "https://a.example", "https://b.example"}
	var seen, owners []string
	path := "/admin/v1/resources?limit=3"
	for range 3 {
		page := h.expect(t, h.do(t, http.MethodGet, path, h.bearer, nil), 200)
		for _, v := range page.JSON["resources"].([]any) {
			r := v.(map[string]any)
			seen = append(seen, r["id"].(string))
			owner, _ := r["managed_by"].(string)
			owners = append(owners, owner)
		}
		next, _ := page.JSON["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/admin/v1/resources?limit=3&cursor=" + next
	}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("listed %v, want %v", seen, want)
	}
	if !reflect.DeepEqual(owners, []string{"builtin", "builtin", "", ""}) {
		t.Fatalf("owners %v, want the two built-in ones marked", owners)
	}
	h.expect(t, h.do(t, http.MethodGet, "/admin/v1/resources?limit=0", h.bearer, nil), 400)
}

func TestCreateResourceValidation(t *testing.T) {
	h := newResourceHarness(t)
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"relative id", validResource("/api"), "id"},
		{"fragment", validResource("https://orders.example/api#x"), "id"},
		{"too long", validResource("https://orders.example/" + strings.Repeat("a", storage.MaxResourceIDLen)), "id"},
		{"http not on loopback", validResource("http://orders.example/api"), "id"},
		{"no id", validResource(""), "id"},
		{"server scope", with(validResource("https://orders.example"), "scopes", []string{"openid"}), "scopes"},
		{"bad scope token", with(validResource("https://orders.example"), "scopes", []string{"a b"}), "scopes"},
		{"ttl beyond tokens.access_ttl", with(validResource("https://orders.example"), "access_token_ttl", "1h"), "access_token_ttl"},
		{"name with a control character", with(validResource("https://orders.example"), "name", "Or\x00ders"), "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/resources", h.bearer, tc.body), 400)
			errs, _ := resp.JSON["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["field"] != tc.field {
				t.Fatalf("errors %s, want one about %s", resp.Body, tc.field)
			}
		})
	}
	for _, body := range []string{`{"id":"https://orders.example","access_token_ttl":300}`, `{"id":"https://orders.example","access_token_ttl":"soon"}`} {
		h.expect(t, h.do(t, http.MethodPost, "/admin/v1/resources", h.bearer, body), 400)
	}
	if list, _ := h.Store.ListResources(h.Ctx); len(list) != 0 {
		t.Fatalf("refused registrations stored: %v", list)
	}
}

// The built-in resources come from the configuration: registering one of
// their ids, changing or deleting one is refused (409), reading is not.
func TestBuiltinResourcesAreReadOnly(t *testing.T) {
	h := newResourceHarness(t)
	for _, id := range []string{resourcetest.Audience, adminAudience} {
		got := h.expect(t, h.do(t, http.MethodGet, resourcePath(id), h.bearer, nil), 200)
		if got.JSON["managed_by"] != account.ManagedByBuiltin || got.JSON["created_at"] != nil {
			t.Fatalf("GET %s: %s", id, got.Body)
		}
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{http.MethodPost, "/admin/v1/resources", validResource(id)},
			{http.MethodPut, resourcePath(id), validResource("")},
			{http.MethodDelete, resourcePath(id), nil},
		} {
			resp := h.expect(t, h.do(t, req.method, req.path, h.bearer, req.body), http.StatusConflict)
			if detail, _ := resp.JSON["detail"].(string); !strings.Contains(detail, "built in") {
				t.Errorf("%s %s: detail %q does not say it is built in", req.method, req.path, detail)
			}
		}
	}
	if list, _ := h.Store.ListResources(h.Ctx); len(list) != 0 {
		t.Fatalf("a built-in id was stored: %v", list)
	}
}

// A resource of the bootstrap file is the file's: shown, not changed.
func TestFileManagedResourcesAreReadOnly(t *testing.T) {
	h := newResourceHarness(t)
	const id = "https://filed.example"
	if err := h.Store.CreateResource(h.Ctx, &storage.Resource{ID: id, Scopes: []string{"filed"}, ManagedBy: storage.ManagedByBootstrap}); err != nil {
		t.Fatal(err)
	}
	before, _ := h.Store.GetResource(h.Ctx, id)
	if got := h.expect(t, h.do(t, http.MethodGet, resourcePath(id), h.bearer, nil), 200); got.JSON["managed_by"] != "bootstrap" {
		t.Fatalf("GET: %s", got.Body)
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		resp := h.expect(t, h.do(t, method, resourcePath(id), h.bearer, validResource("")), http.StatusConflict)
		detail, _ := resp.JSON["detail"].(string)
		for _, want := range []string{`resource "` + id + `"`, "managed by the bootstrap file", "OAUTH2D_BOOTSTRAP"} {
			if !strings.Contains(detail, want) {
				t.Errorf("%s: detail %q does not say %q", method, detail, want)
			}
		}
	}
	if after, _ := h.Store.GetResource(h.Ctx, id); !reflect.DeepEqual(after, before) {
		t.Fatalf("after refused changes %+v, want %+v", after, before)
	}
}

func TestResourceRegistryIsBounded(t *testing.T) {
	h := newResourceHarness(t)
	for i := range storage.MaxResources {
		if err := h.Store.CreateResource(h.Ctx, &storage.Resource{ID: fmt.Sprintf("https://r%d.example", i)}); err != nil {
			t.Fatal(err)
		}
	}
	resp := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/resources", h.bearer, validResource("https://one-more.example")), http.StatusConflict)
	if detail, _ := resp.JSON["detail"].(string); !strings.Contains(detail, fmt.Sprint(storage.MaxResources)) {
		t.Fatalf("detail %q does not name the bound", detail)
	}
}

// The resource routes are the admin API's: scope admin and the admin role.
func TestResourcesNeedAdmin(t *testing.T) {
	h := newResourceHarness(t)
	h.expect(t, h.do(t, http.MethodGet, "/admin/v1/resources", "", nil), 401)
	h.expect(t, h.do(t, http.MethodPost, "/admin/v1/resources", h.token(h.Alice.ID, "cli", "profile"), validResource("https://a.example")), 403)
	h.expect(t, h.do(t, http.MethodDelete, resourcePath(resourcetest.Audience), h.token(h.Alice.ID, "cli", account.ScopeAdmin), nil), 403)
}
