package account

import (
	"slices"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func TestValidateSelfRegisteredClient(t *testing.T) {
	p := Policy{}
	base := func() *storage.Client {
		return &storage.Client{ID: "abc", SelfRegistered: true, Public: true, RedirectURIs: []string{"https://app.example/cb"},
			GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, Scopes: []string{"openid"}}
	}
	tests := []struct {
		name      string
		mutate    func(c *storage.Client)
		wantField string // "": valid
	}{
		{"valid", func(c *storage.Client) {}, ""},
		{"first party", func(c *storage.Client) { c.FirstParty = true }, "first_party"},
		{"password grant", func(c *storage.Client) { c.FirstParty = false; c.GrantTypes = []string{GrantPassword} }, "grant_types"},
		{"client credentials", func(c *storage.Client) { c.Public = false; c.GrantTypes = []string{GrantClientCredentials} }, "grant_types"},
		{"too many redirect URIs", func(c *storage.Client) {
			c.RedirectURIs = nil
			for i := range MaxSelfRegisteredRedirectURIs + 1 {
				c.RedirectURIs = append(c.RedirectURIs, "https://app.example/cb"+strings.Repeat("x", i))
			}
		}, "redirect_uris"},
		{"skips native consent", func(c *storage.Client) { c.InsecureSkipConsentForNativeRedirects = true }, "client_metadata"},
		{"logo over http", func(c *storage.Client) { c.LogoURI = "http://app.example/logo.png" }, "logo_uri"},
		{"tos not a web page", func(c *storage.Client) { c.TOSURI = "javascript:alert(1)" }, "tos_uri"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(c)
			errs := ValidateClient(c, p)
			var fields []string
			for _, err := range errs {
				fields = append(fields, err.(*FieldError).Field)
			}
			if tc.wantField == "" && len(errs) > 0 || tc.wantField != "" && !slices.Contains(fields, tc.wantField) {
				t.Fatalf("ValidateClient = %v; want a problem with %q", errs, tc.wantField)
			}
		})
	}
}

// The configuration refuses the scopes the account package knows to carry
// administrator powers; both lists must name the same.
func TestPrivilegedScopesMatchConfig(t *testing.T) {
	for _, s := range []string{ScopeAdmin, ScopeCommentsModerate} {
		if !slices.Contains(config.PrivilegedScopes, s) {
			t.Errorf("config.PrivilegedScopes lacks %q", s)
		}
	}
}
