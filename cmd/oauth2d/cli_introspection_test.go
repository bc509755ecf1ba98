package main

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// client create --introspection-audience registers a resource server for
// the server's audience (tokens.audience, whatever its form) or an https
// resource; anything else is a usage error naming the field.
func TestClientCreateIntrospectionAudience(t *testing.T) {
	env, st := adminEnv(t)
	env["OAUTH2D_TOKENS_AUDIENCE"] = "urn:oauth2d:api"
	mustRun(t, env, "", "client", "create", "--id", "reports-api", "--grant-type", "client_credentials",
		"--introspection-audience", "urn:oauth2d:api", "--introspection-audience", "https://reports.example/")
	c, err := st.GetClient(context.Background(), "reports-api")
	if want := []string{"urn:oauth2d:api", "https://reports.example/"}; err != nil || !slices.Equal(c.IntrospectionAudiences, want) {
		t.Fatalf("client = %+v, %v; want introspection_audiences %v", c, err, want)
	}
	if out := mustRun(t, env, "", "client", "get", "reports-api"); !strings.Contains(out, "urn:oauth2d:api https://reports.example/") {
		t.Fatalf("client get does not show the introspection audiences:\n%s", out)
	}

	res := runCmd(t, env, "", "client", "create", "--id", "other", "--grant-type", "client_credentials",
		"--introspection-audience", "urn:other:api")
	if exitCode(res.err) != 2 || !strings.Contains(res.err.Error(), "introspection_audiences") {
		t.Fatalf("an audience the server does not issue: %v, want exit 2 naming introspection_audiences", res.err)
	}
}
