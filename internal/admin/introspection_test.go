package admin_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/config"
)

// A resource server is registered through the admin API with the
// audiences it may introspect for; the policy checks them, and the
// views show them.
func TestClientIntrospectionAudiences(t *testing.T) {
	cfg := config.Default()
	cfg.Tokens.Audience = []string{"urn:oauth2d:api"}
	policy, err := account.PolicyOf(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, policy)
	rs := map[string]any{"id": "reports-api", "grant_types": []string{"client_credentials"}}
	auds := []string{"urn:oauth2d:api", "https://reports.example/"}

	created := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients", h.bearer, with(rs, "introspection_audiences", auds)), 201)
	if got := stringsOf(created.JSON["client"].(map[string]any)["introspection_audiences"]); !slices.Equal(got, auds) {
		t.Fatalf("create: introspection_audiences %v, want %v (%s)", got, auds, created.Body)
	}
	got := h.expect(t, h.do(t, http.MethodGet, "/admin/v1/clients/reports-api", h.bearer, nil), 200)
	if got := stringsOf(got.JSON["introspection_audiences"]); !slices.Equal(got, auds) {
		t.Fatalf("get: introspection_audiences %v, want %v", got, auds)
	}
	stored, err := h.Store.GetClient(t.Context(), "reports-api")
	if err != nil || !slices.Equal(stored.IntrospectionAudiences, auds) {
		t.Fatalf("stored: %+v, %v", stored, err)
	}

	for _, tc := range []struct {
		name, method, path string
		body               map[string]any
	}{
		{"not an audience of the server nor https", http.MethodPut, "/admin/v1/clients/reports-api",
			with(rs, "introspection_audiences", []string{"urn:other:api"})},
		{"plain http", http.MethodPut, "/admin/v1/clients/reports-api", with(rs, "introspection_audiences", []string{"http://reports.example/"})},
		{"public client", http.MethodPost, "/admin/v1/clients",
			with(validClient("native"), "public", true, "introspection_audiences", []string{"urn:oauth2d:api"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.expect(t, h.do(t, tc.method, tc.path, h.bearer, tc.body), 400)
			errs, _ := resp.JSON["errors"].([]any)
			if len(errs) != 1 || errs[0].(map[string]any)["field"] != "introspection_audiences" {
				t.Fatalf("errors %s, want one about introspection_audiences", resp.Body)
			}
		})
	}
}

// stringsOf is a decoded JSON array of strings.
func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, s.(string))
	}
	return out
}
