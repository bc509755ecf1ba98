package main

import (
	"context"
	"strings"
	"testing"
)

// client create --dpop-bound --require-par registers
// dpop_bound_access_tokens and require_pushed_authorization_requests, and
// client get shows them.
func TestClientCreateDPoPBound(t *testing.T) {
	env, st := adminEnv(t)
	mustRun(t, env, "", "client", "create", "--id", "spa", "--public", "--dpop-bound", "--require-par",
		"--redirect-uri", "http://127.0.0.1:9001/cb", "--grant-type", "authorization_code")
	c, err := st.GetClient(context.Background(), "spa")
	if err != nil || !c.DPoPBoundAccessTokens || !c.RequirePushedAuthorizationRequests {
		t.Fatalf("client = %+v, %v; want dpop_bound_access_tokens", c, err)
	}
	out := mustRun(t, env, "", "client", "get", "spa")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "dpop_bound_access_tokens:" && f[1] == "true" {
			return
		}
	}
	t.Fatalf("client get does not show dpop_bound_access_tokens: true:\n%s", out)
}
