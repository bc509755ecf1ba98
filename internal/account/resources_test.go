package account

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func TestValidateResource(t *testing.T) {
	policy := Policy{BuiltinResources: []*storage.Resource{{ID: "http://localhost:8080/api"}, {ID: "http://localhost:8080/admin"}},
		AccessTokenTTL: 15 * time.Minute, Userinfo: "http://localhost:8080" + UserinfoPath}
	dev := policy
	dev.InsecureDev = true
	valid := func() *storage.Resource {
		return &storage.Resource{ID: "https://orders.example/api", Name: "Orders", Scopes: []string{"orders:read", "orders:write"},
			AccessTokenTTL: 5 * time.Minute}
	}
	for _, tc := range []struct {
		name   string
		change func(r *storage.Resource)
		policy Policy
		field  string // "" for a valid registration
	}{
		{name: "valid", change: func(*storage.Resource) {}},
		{name: "no scopes, no name, no ttl", change: func(r *storage.Resource) { r.Scopes, r.Name, r.AccessTokenTTL = nil, "", 0 }},
		{name: "http on loopback", change: func(r *storage.Resource) { r.ID = "http://127.0.0.1:9000/api" }},
		{name: "ttl equal to tokens.access_ttl", change: func(r *storage.Resource) { r.AccessTokenTTL = 15 * time.Minute }},
		{name: "http elsewhere in dev", change: func(r *storage.Resource) { r.ID = "http://orders.internal/api" }, policy: dev},
		{name: "relative", change: func(r *storage.Resource) { r.ID = "/api" }, field: "id"},
		{name: "empty", change: func(r *storage.Resource) { r.ID = "" }, field: "id"},
		{name: "fragment", change: func(r *storage.Resource) { r.ID = "https://orders.example/api#v1" }, field: "id"},
		{name: "empty fragment", change: func(r *storage.Resource) { r.ID = "https://orders.example/api#" }, field: "id"},
		{name: "query", change: func(r *storage.Resource) { r.ID = "https://orders.example/api?v=1" }, field: "id"},
		{name: "userinfo", change: func(r *storage.Resource) { r.ID = "https://me@orders.example/api" }, field: "id"},
		{name: "too long", change: func(r *storage.Resource) {
			r.ID = "https://orders.example/" + strings.Repeat("a", storage.MaxResourceIDLen)
		}, field: "id"},
		{name: "http not loopback", change: func(r *storage.Resource) { r.ID = "http://orders.example/api" }, field: "id"},
		{name: "urn", change: func(r *storage.Resource) { r.ID = "urn:example:orders" }, field: "id"},
		{name: "built-in comments API", change: func(r *storage.Resource) { r.ID = "http://localhost:8080/api" }, field: "id"},
		{name: "built-in admin API", change: func(r *storage.Resource) { r.ID = "http://localhost:8080/admin" }, field: "id"},
		{name: "the UserInfo endpoint", change: func(r *storage.Resource) { r.ID = "http://localhost:8080/oauth2/userinfo" }, field: "id"},
		{name: "openid", change: func(r *storage.Resource) { r.Scopes = []string{"openid"} }, field: "scopes"},
		{name: "offline_access", change: func(r *storage.Resource) { r.Scopes = []string{"orders:read", "offline_access"} }, field: "scopes"},
		{name: "scope with a space", change: func(r *storage.Resource) { r.Scopes = []string{"orders read"} }, field: "scopes"},
		{name: "scope with a quote", change: func(r *storage.Resource) { r.Scopes = []string{`orders"`} }, field: "scopes"},
		{name: "empty scope", change: func(r *storage.Resource) { r.Scopes = []string{""} }, field: "scopes"},
		{name: "long scope", change: func(r *storage.Resource) { r.Scopes = []string{strings.Repeat("s", MaxScopeNameLen+1)} }, field: "scopes"},
		{name: "scope twice", change: func(r *storage.Resource) { r.Scopes = []string{"a", "a"} }, field: "scopes"},
		{name: "too many scopes", change: func(r *storage.Resource) {
			r.Scopes = nil
			for i := range MaxResourceScopes + 1 {
				r.Scopes = append(r.Scopes, "s"+strings.Repeat("x", i))
			}
		}, field: "scopes"},
		{name: "name with a control character", change: func(r *storage.Resource) { r.Name = "Orders\n" }, field: "name"},
		{name: "name with bidi override", change: func(r *storage.Resource) { r.Name = "Bank\u202e" }, field: "name"},
		{name: "name too long", change: func(r *storage.Resource) { r.Name = strings.Repeat("n", MaxResourceNameLen+1) }, field: "name"},
		{name: "ttl longer than tokens.access_ttl", change: func(r *storage.Resource) { r.AccessTokenTTL = 16 * time.Minute }, field: "access_token_ttl"},
		{name: "negative ttl", change: func(r *storage.Resource) { r.AccessTokenTTL = -time.Second }, field: "access_token_ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := valid()
			tc.change(r)
			p := tc.policy
			if p.AccessTokenTTL == 0 {
				p = policy
			}
			errs := ValidateResource(r, p)
			if tc.field == "" {
				if len(errs) > 0 {
					t.Fatalf("ValidateResource = %v, want none", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("ValidateResource = %v, want one problem with %s", errs, tc.field)
			}
			var fe *FieldError
			if !errors.As(errs[0], &fe) || fe.Field != tc.field {
				t.Fatalf("ValidateResource = %v, want a problem with %s", errs, tc.field)
			}
		})
	}
}

// The policy of a configuration knows its built-in resources and its
// access-token lifetime.
func TestPolicyOfKnowsBuiltinResources(t *testing.T) {
	cfg := config.Default()
	cfg.Tokens.Audience = []string{"http://localhost:8080/api"}
	cfg.Tokens.AdminAudience = "http://localhost:8080/admin"
	p, err := PolicyOf(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"http://localhost:8080/api", "http://localhost:8080/admin"} {
		if errs := ValidateResource(&storage.Resource{ID: id}, p); len(errs) != 1 {
			t.Errorf("ValidateResource(%s) = %v, want it refused as built-in", id, errs)
		}
	}
	if errs := ValidateResource(&storage.Resource{ID: "http://localhost:9000/api", AccessTokenTTL: cfg.Tokens.AccessTTL}, p); len(errs) > 0 {
		t.Errorf("ValidateResource = %v, want none", errs)
	}
}

// A resource reads the same in the bootstrap file (YAML) and the admin
// API (JSON), its ttl a duration string in both, and survives the stored
// record both ways.
func TestResourceRegistrationFormats(t *testing.T) {
	var fromYAML, fromJSON ResourceRegistration
	if err := yaml.Unmarshal([]byte("id: https://orders.example\nscopes: [orders:read]\naccess_token_ttl: 5m\nrequire_dpop: true\n"), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"id":"https://orders.example","scopes":["orders:read"],"access_token_ttl":"5m","require_dpop":true}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	for _, r := range []ResourceRegistration{fromYAML, fromJSON} {
		rec := r.Record()
		if rec.AccessTokenTTL != 5*time.Minute || !rec.RequireDPoP {
			t.Fatalf("Record of %+v = %+v, want a 5m ttl and DPoP", r, rec)
		}
		if back := ResourceRegistrationOf(rec); !reflect.DeepEqual(back, r) {
			t.Fatalf("ResourceRegistrationOf(Record()) = %+v, want %+v", back, r)
		}
	}
	out, err := json.Marshal(fromJSON)
	if err != nil || !strings.Contains(string(out), `"access_token_ttl":"5m0s"`) {
		t.Fatalf("Marshal = %s, %v; want the ttl as a duration string", out, err)
	}
	if err := json.Unmarshal([]byte(`{"access_token_ttl":300}`), &fromJSON); err == nil {
		t.Fatal("a ttl in bare nanoseconds was accepted")
	}
}
