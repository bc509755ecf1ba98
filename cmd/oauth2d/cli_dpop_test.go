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

// client create --insecure-skip-consent-for-native-redirects registers the
// flag on a public client, client get shows it, and a confidential client
// is refused it (exit 2).
func TestClientCreateInsecureSkipConsentForNativeRedirects(t *testing.T) {
	env, st := adminEnv(t)
	mustRun(t, env, "", "client", "create", "--id", "cli", "--public", "--insecure-skip-consent-for-native-redirects",
		"--redirect-uri", "http://127.0.0.1:9001/cb", "--grant-type", "authorization_code")
	c, err := st.GetClient(context.Background(), "cli")
	if err != nil || !c.InsecureSkipConsentForNativeRedirects {
		t.Fatalf("client = %+v, %v; want insecure_skip_consent_for_native_redirects", c, err)
	}
	out := mustRun(t, env, "", "client", "get", "cli")
	if !strings.Contains(strings.Join(strings.Fields(out), " "), "insecure_skip_consent_for_native_redirects: true") {
		t.Fatalf("client get does not show insecure_skip_consent_for_native_redirects: true:\n%s", out)
	}
	res := runCmd(t, env, "", "client", "create", "--id", "web", "--insecure-skip-consent-for-native-redirects",
		"--redirect-uri", "http://127.0.0.1:9001/cb", "--grant-type", "authorization_code")
	if exitCode(res.err) != 2 || !strings.Contains(res.err.Error(), "public clients only") {
		t.Fatalf("confidential client with the flag: %v", res.err)
	}
}
