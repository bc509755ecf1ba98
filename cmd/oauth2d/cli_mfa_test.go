package main

import (
	"context"
	"strings"
	"testing"
)

// client create --require-mfa registers require_mfa, and client get shows it.
func TestClientCreateRequireMFA(t *testing.T) {
	env, st := adminEnv(t)
	mustRun(t, env, "", "client", "create", "--id", "mfa-app", "--public", "--require-mfa",
		"--redirect-uri", "http://127.0.0.1:9001/cb", "--grant-type", "authorization_code")
	c, err := st.GetClient(context.Background(), "mfa-app")
	if err != nil || !c.RequireMFA {
		t.Fatalf("client = %+v, %v; want require_mfa", c, err)
	}
	out := mustRun(t, env, "", "client", "get", "mfa-app")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "require_mfa:" && f[1] == "true" {
			return
		}
	}
	t.Fatalf("client get does not show require_mfa: true:\n%s", out)
}
