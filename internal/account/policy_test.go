package account

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func validClient() storage.Client {
	return storage.Client{
		ID:           "app",
		RedirectURIs: []string{"https://app.example/callback"},
		GrantTypes:   []string{GrantAuthorizationCode, GrantRefreshToken},
		Scopes:       []string{"openid", "comments:read"},
	}
}

func TestValidateClient(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *storage.Client)
		dev     bool
		wantErr string // "" = valid
	}{
		{"valid", func(c *storage.Client) {}, false, ""},
		{"empty id", func(c *storage.Client) { c.ID = "" }, false, "id: must be"},
		{"id with brace", func(c *storage.Client) { c.ID = "a{b}" }, false, "id: must be"},
		{"id with space", func(c *storage.Client) { c.ID = "a b" }, false, "id: must be"},
		{"no grants", func(c *storage.Client) { c.GrantTypes = nil }, false, "grant_types: must name"},
		{"implicit", func(c *storage.Client) { c.GrantTypes = []string{"implicit"} }, false, `unknown grant type "implicit"`},
		{"duplicate grant", func(c *storage.Client) { c.GrantTypes = append(c.GrantTypes, GrantRefreshToken) }, false, "listed twice"},
		{"refresh alone", func(c *storage.Client) { c.GrantTypes = []string{GrantRefreshToken} }, false, "refresh_token needs"},
		{"public client credentials", func(c *storage.Client) {
			c.Public, c.GrantTypes = true, []string{GrantClientCredentials}
		}, false, "public client cannot use client_credentials"},
		{"confidential client credentials", func(c *storage.Client) { c.GrantTypes = []string{GrantClientCredentials} }, false, ""},
		{"public device code with refresh", func(c *storage.Client) {
			c.Public, c.RedirectURIs, c.GrantTypes = true, nil, []string{GrantDeviceCode, GrantRefreshToken}
		}, false, ""},
		{"confidential device code", func(c *storage.Client) { c.RedirectURIs, c.GrantTypes = nil, []string{GrantDeviceCode} }, false, ""},
		{"third-party password", func(c *storage.Client) { c.GrantTypes = []string{GrantPassword} }, false, "first-party clients only"},
		{"first-party password", func(c *storage.Client) { c.FirstParty, c.GrantTypes = true, []string{GrantPassword} }, false, ""},
		{"public first-party password", func(c *storage.Client) {
			c.Public, c.FirstParty, c.GrantTypes = true, true, []string{GrantPassword, GrantRefreshToken}
		}, false, ""},
		{"skip native consent on a confidential client", func(c *storage.Client) { c.InsecureSkipConsentForNativeRedirects = true }, false,
			"insecure_skip_consent_for_native_redirects: applies to public clients only"},
		{"skip native consent on a public client", func(c *storage.Client) {
			c.Public, c.InsecureSkipConsentForNativeRedirects = true, true
		}, false, ""},
		{"code without redirect", func(c *storage.Client) { c.RedirectURIs = nil }, false, "redirect_uris: authorization_code needs"},
		{"relative redirect", func(c *storage.Client) { c.RedirectURIs = []string{"/callback"} }, false, "must be an absolute URI"},
		{"redirect with fragment", func(c *storage.Client) { c.RedirectURIs = []string{"https://app.example/cb#x"} }, false, "must not have a fragment"},
		{"redirect with empty fragment", func(c *storage.Client) { c.RedirectURIs = []string{"https://app.example/cb#"} }, false, "must not have a fragment"},
		{"http loopback redirect", func(c *storage.Client) {
			c.RedirectURIs = []string{"http://127.0.0.1:9001/cb", "http://[::1]/cb", "http://localhost:9000/cb"}
		}, false, ""},
		{"http remote redirect", func(c *storage.Client) { c.RedirectURIs = []string{"http://app.example/cb"} }, false, "must be https"},
		{"http remote redirect in dev", func(c *storage.Client) { c.RedirectURIs = []string{"http://app.example/cb"} }, true, ""},
		{"javascript redirect", func(c *storage.Client) { c.RedirectURIs = []string{"javascript:alert(1)"} }, true, "private-use scheme"},
		{"native private-use scheme", func(c *storage.Client) { c.RedirectURIs = []string{"com.example.app:/oauth2redirect"} }, false, ""},
		{"https without host", func(c *storage.Client) { c.RedirectURIs = []string{"https:///cb"} }, false, "has no host"},
		{"bad post-logout", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"http://app.example/"} }, false, "post_logout_redirect_uris:"},
		{"bad scope", func(c *storage.Client) { c.Scopes = []string{"comments read"} }, false, `scopes: "comments read"`},
		{"scope with quote", func(c *storage.Client) { c.Scopes = []string{`a"b`} }, false, "scopes:"},
		{"backchannel https", func(c *storage.Client) {
			c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = "https://app.example/bcl?x=1", true
		}, false, ""},
		{"backchannel http loopback", func(c *storage.Client) { c.BackchannelLogoutURI = "http://127.0.0.1:9000/bcl" }, false, "outbound.allow_internal"},
		{"backchannel http loopback in dev", func(c *storage.Client) { c.BackchannelLogoutURI = "http://127.0.0.1:9000/bcl" }, true, ""},
		{"backchannel http remote", func(c *storage.Client) { c.BackchannelLogoutURI = "http://app.example/bcl" }, false, "backchannel_logout_uri:"},
		{"backchannel http remote in dev", func(c *storage.Client) { c.BackchannelLogoutURI = "http://app.example/bcl" }, true, ""},
		{"backchannel fragment", func(c *storage.Client) { c.BackchannelLogoutURI = "https://app.example/bcl#" }, false, "must not have a fragment"},
		{"backchannel relative", func(c *storage.Client) { c.BackchannelLogoutURI = "/bcl" }, false, "absolute https URI"},
		{"backchannel private-use scheme", func(c *storage.Client) { c.BackchannelLogoutURI = "com.example.app:/bcl" }, true, "absolute https URI"},
		{"client_uri https", func(c *storage.Client) { c.ClientURI = "https://app.example/" }, false, ""},
		{"client_uri http loopback", func(c *storage.Client) { c.ClientURI = "http://localhost:9000/" }, false, ""},
		{"client_uri http remote", func(c *storage.Client) { c.ClientURI = "http://app.example/" }, false, "client_uri:"},
		{"client_uri http remote in dev", func(c *storage.Client) { c.ClientURI = "http://app.example/" }, true, ""},
		{"client_uri relative", func(c *storage.Client) { c.ClientURI = "/home" }, false, "client_uri: \"/home\" must be an absolute https URL"},
		{"client_uri javascript", func(c *storage.Client) { c.ClientURI = "javascript:alert(1)" }, true, "must be an absolute https URL"},
		{"client_uri private-use scheme", func(c *storage.Client) { c.ClientURI = "com.example.app:/home" }, true, "must be an absolute https URL"},
		{"client_uri no host", func(c *storage.Client) { c.ClientURI = "https:///home" }, false, "must be an absolute https URL"},
		{"client_uri userinfo", func(c *storage.Client) { c.ClientURI = "https://app.example@evil.example/" }, false, "must not have userinfo"},
		{"client_uri fragment", func(c *storage.Client) { c.ClientURI = "https://app.example/#top" }, false, "client_uri: \"https://app.example/#top\" must not have a fragment"},
		{"client_uri empty fragment", func(c *storage.Client) { c.ClientURI = "https://app.example/#" }, false, "must not have a fragment"},
		{"client_uri at the length limit", func(c *storage.Client) {
			c.ClientURI = "https://app.example/" + strings.Repeat("a", MaxClientURILen-len("https://app.example/"))
		}, false, ""},
		{"client_uri too long", func(c *storage.Client) {
			c.ClientURI = "https://app.example/" + strings.Repeat("a", MaxClientURILen)
		}, false, "client_uri: must be at most 2048 characters"},
		{"session required without uri", func(c *storage.Client) { c.BackchannelLogoutSessionRequired = true }, false, "needs a backchannel_logout_uri"},
		{"name at the length limit", func(c *storage.Client) { c.Name = strings.Repeat("é", MaxClientNameLen) }, false, ""},
		{"name too long", func(c *storage.Client) { c.Name = strings.Repeat("n", MaxClientNameLen+1) }, false, "name: must be at most 100 characters"},
		{"name with newline", func(c *storage.Client) { c.Name = "My App\nSign in as admin" }, false, "name: must be UTF-8 text without control"},
		{"name with NUL", func(c *storage.Client) { c.Name = "My\x00App" }, false, "name: must be UTF-8 text without control"},
		{"name not UTF-8", func(c *storage.Client) { c.Name = "My\xffApp" }, false, "name: must be UTF-8 text"},
		{"name with right-to-left override", func(c *storage.Client) { c.Name = "Bank\u202egnp.exe" }, false, "name: must not contain bidirectional"},
		{"name with isolate", func(c *storage.Client) { c.Name = "App\u2067x\u2069" }, false, "name: must not contain bidirectional"},
		{"name in Arabic", func(c *storage.Client) { c.Name = "تطبيقي" }, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validClient()
			tc.mutate(&c)
			errs := ValidateClient(&c, Policy{InsecureDev: tc.dev})
			err := errors.Join(errs...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("ValidateClient: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("ValidateClient accepted it, want %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("ValidateClient: %v\nwant it to contain %q", err, tc.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "account: client "):
				t.Fatalf("error %q does not name the client", err)
			}
		})
	}
}

// A backchannel_logout_uri on an internal host is refused at registration,
// with the setting that allows it, unless that setting or insecure_dev
// does: the server would POST there itself (SSRF).
func TestValidateClientBackchannelDestination(t *testing.T) {
	policy := func(dev bool, allowInternal ...string) Policy {
		cfg := config.Default()
		cfg.InsecureDev, cfg.Outbound.AllowInternal = dev, allowInternal
		p, err := PolicyOf(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	strict, allowing, dev := policy(false), policy(false, "127.0.0.1", "10.0.0.0/8", "bcl.internal"), policy(true)
	for _, tc := range []struct {
		uri             string
		strict, allowed bool // accepted by strict, by allowing (dev accepts all)
		why             string
	}{
		{"https://app.example/bcl", true, true, ""},
		{"https://bcl.internal/logout", true, true, ""}, // a name: the guard checks it when connecting
		{"http://127.0.0.1:6379/", false, true, "127.0.0.1 (loopback)"},
		{"http://localhost:9000/bcl", false, true, "localhost (loopback)"},
		{"https://169.254.169.254/latest/meta-data/", false, false, "169.254.169.254 (link-local)"},
		{"https://10.0.0.1/", false, true, "10.0.0.1 (private)"},
		{"https://[::1]:9200/", false, false, "::1 (loopback)"},
		{"https://[::ffff:127.0.0.1]/", false, true, "127.0.0.1 (loopback)"},
		{"https://100.64.0.1/", false, false, "100.64.0.1 (shared address space"},
		{"https://0.0.0.0/", false, false, "0.0.0.0 (unspecified)"},
		{"https://[fe80::1]/", false, false, "fe80::1 (link-local)"},
		{"https://2130706433/", false, false, "2130706433 (a numeric name"},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			for _, p := range []struct {
				name   string
				policy Policy
				accept bool
			}{{"strict", strict, tc.strict}, {"allow_internal", allowing, tc.allowed}, {"insecure_dev", dev, true}} {
				c := validClient()
				c.BackchannelLogoutURI = tc.uri
				err := errors.Join(ValidateClient(&c, p.policy)...)
				if (err == nil) != p.accept {
					t.Errorf("%s: %v, want accepted %v", p.name, err, p.accept)
					continue
				}
				var fe *FieldError
				if err != nil && (!errors.As(err, &fe) || fe.Field != "backchannel_logout_uri" ||
					!strings.Contains(fe.Detail, tc.why) || !strings.Contains(fe.Detail, "outbound.allow_internal") || !strings.Contains(fe.Detail, "insecure_dev")) {
					t.Errorf("%s: %v, want a backchannel_logout_uri error saying %q and naming the settings", p.name, err, tc.why)
				}
			}
		})
	}
}

// introspection_audiences: a resource identifier (RFC 8707 §2) or the
// server's own audience, for confidential clients only, bounded.
func TestValidateClientIntrospectionAudiences(t *testing.T) {
	serverAudience := "urn:oauth2d:api" // not https, but what the server puts in aud
	many := make([]string, MaxIntrospectionAudiences+1)
	for i := range many {
		many[i] = fmt.Sprintf("https://api%d.example/", i)
	}
	tests := []struct {
		name    string
		auds    []string
		public  bool
		dev     bool
		wantErr string // "" = valid
	}{
		{"none", nil, false, false, ""},
		{"the server's audience", []string{serverAudience}, false, false, ""},
		{"https resource", []string{"https://api.example/", "https://api.example/reports"}, false, false, ""},
		{"http loopback", []string{"http://localhost:8080/api"}, false, false, ""},
		{"http remote", []string{"http://api.example/"}, false, false, "must be https"},
		{"http remote in dev", []string{"http://api.example/"}, false, true, ""},
		{"another urn", []string{"urn:other:api"}, false, false, "tokens.audience"},
		{"relative", []string{"/api"}, false, false, "absolute https URI"},
		{"fragment", []string{"https://api.example/#x"}, false, false, "a query or a fragment"},
		{"query", []string{"https://api.example/?x=1"}, false, false, "a query or a fragment"},
		{"userinfo", []string{"https://api.example@evil.example/"}, false, false, "userinfo"},
		{"empty", []string{""}, false, false, "absolute https URI"},
		{"twice", []string{"https://api.example/", "https://api.example/"}, false, false, "listed twice"},
		{"too many", many, false, false, fmt.Sprintf("at most %d audiences", MaxIntrospectionAudiences)},
		{"at the length limit", []string{"https://api.example/" + strings.Repeat("a", MaxIntrospectionAudienceLen-len("https://api.example/"))}, false, false, ""},
		{"too long", []string{"https://api.example/" + strings.Repeat("a", MaxIntrospectionAudienceLen)}, false, false, "at most 512 characters"},
		{"public client", []string{serverAudience}, true, false, "a public client cannot introspect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validClient()
			c.Public, c.IntrospectionAudiences = tc.public, tc.auds
			err := errors.Join(ValidateClient(&c, Policy{InsecureDev: tc.dev, Audiences: []string{serverAudience}})...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("ValidateClient: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("ValidateClient accepted it, want %q", tc.wantErr)
			case tc.wantErr != "" && (!strings.Contains(err.Error(), "introspection_audiences: ") || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("ValidateClient: %v\nwant an introspection_audiences error containing %q", err, tc.wantErr)
			}
		})
	}
	t.Run("PolicyOf takes tokens.audience", func(t *testing.T) {
		cfg := config.Default()
		cfg.Tokens.Audience = []string{serverAudience}
		p, err := PolicyOf(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := validClient()
		c.IntrospectionAudiences = []string{serverAudience}
		if err := errors.Join(ValidateClient(&c, p)...); err != nil {
			t.Fatal(err)
		}
	})
}

func TestValidateUser(t *testing.T) {
	tests := []struct {
		name    string
		user    storage.User
		wantErr string
	}{
		{"valid", storage.User{Username: "alice", Roles: []string{"user"}, Email: "a@example.com"}, ""},
		{"email as username", storage.User{Username: "alice@example.com"}, ""},
		{"empty username", storage.User{Username: ""}, "username:"},
		{"username with space", storage.User{Username: "al ice"}, "username:"},
		{"upper-case role", storage.User{Username: "a", Roles: []string{"Admin"}}, "roles:"},
		{"duplicate role", storage.User{Username: "a", Roles: []string{"user", "user"}}, "listed twice"},
		{"bad email", storage.User{Username: "a", Email: "nope"}, "email:"},
		{"verified email", storage.User{Username: "a", Email: "a@example.com", EmailVerified: true}, ""},
		{"verified without email", storage.User{Username: "a", EmailVerified: true}, "email_verified: needs an email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := errors.Join(ValidateUser(&tc.user)...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("ValidateUser: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("ValidateUser = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateScopeText(t *testing.T) {
	tests := []struct {
		name    string
		scope   ScopeText
		wantErr string // "" = valid
	}{
		{"custom", ScopeText{Name: "reports:read", Title: "Read your reports", Description: "See the monthly reports you can see."}, ""},
		{"title only", ScopeText{Name: "x", Title: "Do x"}, ""},
		{"no name", ScopeText{Title: "t"}, `scope "": name:`},
		{"space in name", ScopeText{Name: "reports read", Title: "t"}, `scope "reports read": name: must be 1-128`},
		{"quote in name", ScopeText{Name: `a"b`, Title: "t"}, "name:"},
		{"long name", ScopeText{Name: strings.Repeat("s", 129), Title: "t"}, "name:"},
		{"no title", ScopeText{Name: "x", Title: "  "}, `scope "x": title: must not be empty`},
		{"long title", ScopeText{Name: "x", Title: strings.Repeat("é", 101)}, "title: must be at most 100"},
		{"title with newline", ScopeText{Name: "x", Title: "a\nb"}, "title: must be UTF-8 text without control"},
		{"title with bidi override", ScopeText{Name: "x", Title: "Read \u202etropper"}, "title: must not contain bidirectional"},
		{"long description", ScopeText{Name: "x", Title: "t", Description: strings.Repeat("d", 401)}, "description: must be at most 400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := errors.Join(ValidateScopeText(tc.scope)...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestBuiltinScopeTextsAreValid(t *testing.T) {
	for _, s := range BuiltinScopeTexts() {
		if err := errors.Join(ValidateScopeText(s)...); err != nil {
			t.Error(err)
		}
	}
	merged := MergeScopeTexts([]ScopeText{{Name: "email", Title: "Your work email"}, {Name: "reports:read", Title: "Read reports"}})
	if merged["email"].Title != "Your work email" || merged["reports:read"].Title != "Read reports" || merged["openid"].Title == "" {
		t.Fatalf("MergeScopeTexts = %v", merged)
	}
}
