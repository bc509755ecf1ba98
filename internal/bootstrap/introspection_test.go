package bootstrap

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
)

// A resource server declared in the file keeps its introspection
// audiences; changing them is a change, and the policy checks them.
func TestApplyIntrospectionAudiences(t *testing.T) {
	const doc = `
clients:
  - id: reports-api
    secret: reports-api-secret-0123456789
    grant_types: [client_credentials]
    introspection_audiences: [urn:oauth2d:api]
`
	ctx := context.Background()
	st := openStore(t)
	a := newTestApplier(st)
	policy := account.Policy{Audiences: []string{"urn:oauth2d:api"}}
	apply := func(doc string) (Result, error) {
		t.Helper()
		f, err := Parse([]byte(doc), "test")
		if err != nil {
			t.Fatal(err)
		}
		return a.Apply(ctx, f, policy)
	}
	if res, err := apply(doc); err != nil || res.Created != 1 {
		t.Fatalf("apply = %+v, %v", res, err)
	}
	if c, err := st.GetClient(ctx, "reports-api"); err != nil || !slices.Equal(c.IntrospectionAudiences, []string{"urn:oauth2d:api"}) {
		t.Fatalf("stored %+v, %v", c, err)
	}
	changed := strings.Replace(doc, "[urn:oauth2d:api]", "[urn:oauth2d:api, https://reports.example/]", 1)
	if res, err := apply(changed); err != nil || res.Updated != 1 {
		t.Fatalf("apply with another audience = %+v, %v; want it updated", res, err)
	}
	if c, _ := st.GetClient(ctx, "reports-api"); len(c.IntrospectionAudiences) != 2 {
		t.Fatalf("stored %v after the change", c.IntrospectionAudiences)
	}
	_, err := apply(strings.Replace(doc, "urn:oauth2d:api", "urn:other:api", 1))
	if err == nil || !strings.Contains(err.Error(), "introspection_audiences") {
		t.Fatalf("apply with an audience the server does not issue: %v, want an introspection_audiences error", err)
	}
}
