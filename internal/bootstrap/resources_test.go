package bootstrap

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
)

const resourcesDoc = `
resources:
  - id: https://orders.example/api
    name: Orders
    scopes: [orders:read, orders:write]
    access_token_ttl: 5m
    require_dpop: true
  - id: https://billing.example
    scopes: [billing]
`

var resourcePolicy = account.Policy{BuiltinResources: []*storage.Resource{{ID: "http://localhost:8080/api"}, {ID: "http://localhost:8080/admin"}},
	AccessTokenTTL: 15 * time.Minute}

func applyResources(t *testing.T, a *Applier, doc string) Result {
	t.Helper()
	f, err := Parse([]byte(doc), "test")
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Apply(context.Background(), f, resourcePolicy)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The file's resources are stored marked as its own, put back as the file
// says, and released (unmarked, kept) once the file drops them, like its
// clients.
func TestApplyResources(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if res := applyResources(t, newTestApplier(st), resourcesDoc); res != (Result{Created: 2}) {
		t.Fatalf("apply = %+v, want two resources created", res)
	}
	orders, err := st.GetResource(ctx, "https://orders.example/api")
	if err != nil || orders.Name != "Orders" || !slices.Equal(orders.Scopes, []string{"orders:read", "orders:write"}) ||
		orders.AccessTokenTTL != 5*time.Minute || !orders.RequireDPoP || orders.ManagedBy != storage.ManagedByBootstrap {
		t.Fatalf("orders = %+v, %v; want the file's, marked", orders, err)
	}
	if res := applyResources(t, newTestApplier(st), resourcesDoc); res != (Result{Unchanged: 2}) {
		t.Fatalf("second apply = %+v, want nothing changed", res)
	}

	// Changed behind the file's back: the next apply restores it.
	orders.Scopes, orders.ManagedBy = []string{"everything"}, ""
	if err := st.UpsertResource(ctx, orders); err != nil {
		t.Fatal(err)
	}
	if res := applyResources(t, newTestApplier(st), resourcesDoc); res != (Result{Updated: 1, Unchanged: 1}) {
		t.Fatalf("apply after a change = %+v, want orders updated", res)
	}
	if again, _ := st.GetResource(ctx, orders.ID); !slices.Equal(again.Scopes, []string{"orders:read", "orders:write"}) ||
		again.ManagedBy != storage.ManagedByBootstrap || !again.CreatedAt.Equal(orders.CreatedAt) {
		t.Fatalf("orders after apply = %+v, want the file's scopes, marked, created when first applied", again)
	}

	withoutBilling := resourcesDoc[:strings.Index(resourcesDoc, "  - id: https://billing.example")]
	if res := applyResources(t, newTestApplier(st), withoutBilling); res != (Result{Unchanged: 1, Released: 1}) {
		t.Fatalf("apply without billing = %+v, want billing released", res)
	}
	billing, err := st.GetResource(ctx, "https://billing.example")
	if err != nil || billing.ManagedBy != "" || !slices.Equal(billing.Scopes, []string{"billing"}) {
		t.Fatalf("released billing = %+v, %v; want it kept, unmarked", billing, err)
	}
	if res := applyResources(t, newTestApplier(st), ""); res != (Result{Released: 1}) {
		t.Fatalf("empty file = %+v, want orders released", res)
	}
}

func TestValidateResources(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"built-in identifier", "resources:\n  - id: http://localhost:8080/api\n", "built-in"},
		{"relative identifier", "resources:\n  - id: /api\n", "absolute URI"},
		{"plain http", "resources:\n  - id: http://orders.example\n", "must be https"},
		{"declared twice", "resources:\n  - id: https://a.example\n  - id: https://a.example\n", "declared twice"},
		{"server scope", "resources:\n  - id: https://a.example\n    scopes: [openid]\n", "authorization server itself"},
		{"ttl too long", "resources:\n  - id: https://a.example\n    access_token_ttl: 1h\n", "tokens.access_ttl"},
		{"too many", manyResources(storage.MaxResources + 1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.doc), "test")
			if err != nil {
				t.Fatal(err)
			}
			err = f.Validate(resourcePolicy)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if _, err := Parse([]byte("resources:\n  - id: https://a.example\n    access_token_ttl: soon\n"), "test"); err == nil {
		t.Error("a ttl that is no duration parsed")
	}
	if _, err := Parse([]byte("resources:\n  - id: https://a.example\n    scope: [a]\n"), "test"); err == nil {
		t.Error("a misspelt field parsed")
	}
	f, _ := Parse([]byte(manyResources(storage.MaxResources)), "test")
	if err := f.Validate(resourcePolicy); err != nil {
		t.Errorf("Validate of %d resources = %v, want none", storage.MaxResources, err)
	}
}

func manyResources(n int) string {
	var b strings.Builder
	b.WriteString("resources:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: https://r%d.example\n", i)
	}
	return b.String()
}

// A resource made through the admin API under an identifier the file
// declares is taken over.
func TestApplyTakesOverResources(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if err := st.CreateResource(ctx, &storage.Resource{ID: "https://billing.example", Scopes: []string{"admin-made"}}); err != nil {
		t.Fatal(err)
	}
	if res := applyResources(t, newTestApplier(st), resourcesDoc); res != (Result{Created: 1, Updated: 1}) {
		t.Fatalf("apply = %+v, want orders created, billing taken over", res)
	}
	billing, err := st.GetResource(ctx, "https://billing.example")
	if err != nil || billing.ManagedBy != storage.ManagedByBootstrap || !slices.Equal(billing.Scopes, []string{"billing"}) {
		t.Fatalf("billing = %+v, %v; want the file's", billing, err)
	}
}

// The commented resources example of the shipped file is valid once
// uncommented, so that copying it works.
func TestShippedResourcesExampleIsValid(t *testing.T) {
	data, err := os.ReadFile("../../configs/bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	for line := range strings.Lines(string(data)) {
		switch {
		case strings.HasPrefix(line, "# resources:"):
			example = append(example, strings.TrimPrefix(line, "# "))
		case len(example) > 0 && strings.HasPrefix(line, "#   "):
			example = append(example, strings.TrimPrefix(line, "# "))
		}
		if len(example) > 0 && !strings.HasPrefix(line, "#") {
			break
		}
	}
	f, err := Parse([]byte(strings.Join(example, "")), "the example")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Resources) != 1 {
		t.Fatalf("the example declares %d resources, want 1:\n%s", len(f.Resources), strings.Join(example, ""))
	}
	if err := f.Validate(resourcePolicy); err != nil {
		t.Fatalf("the example is invalid: %v", err)
	}
}
