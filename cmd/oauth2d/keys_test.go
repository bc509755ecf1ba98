package main

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Issue 17 item 9: a first rollout starts every instance at the same
// moment on an empty Redis with keys.source redis. A relying party behind
// the load balancer may get a token from one instance and the JWKS from
// another, so every token of every instance must verify with the JWKS
// every other instance serves.
func TestInstancesStartedTogetherPublishEachOthersKeys(t *testing.T) {
	env, _ := adminEnv(t)
	env["OAUTH2D_KEYS_SOURCE"] = "redis"
	env["OAUTH2D_KEY_ENCRYPTION_KEY"] = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("r", 32)))
	env["OAUTH2D_LOG_LEVEL"] = "warn"
	// keys.id_token_algorithm stays RS256, the default: RSA keys are slow
	// to generate, which is what let the instances' ID-token keys diverge.
	mustRun(t, env, "app-secret-of-the-test\n", "client", "create", "--id", "app", "--secret-stdin", "--first-party",
		"--grant-type", "password", "--scope", "openid profile")
	mustRun(t, env, "password-1\n", "user", "create", "--username", "u1", "--role", "user")

	instances := make([]*serving, 3)
	for i := range instances {
		own := make(map[string]string, len(env)+2)
		for k, v := range env {
			own[k] = v
		}
		instances[i] = startServe(t, own)
		defer func() { _ = instances[i].stop() }()
	}
	for _, in := range instances {
		in.waitReady(t, time.Minute) // three RSA key pairs generated at once, under -race
	}

	ctx := context.Background()
	for i, minting := range instances {
		tok := tokenRequest(minting.base, "app", "app-secret-of-the-test", url.Values{"grant_type": {"password"},
			"username": {"u1"}, "password": {"password-1"}, "scope": {"openid profile"}})
		if tok.status != 200 || tok.str("id_token") == "" {
			t.Fatalf("instance %d: password grant = %d %v, want tokens with an ID token", i, tok.status, tok.body)
		}
		for j, serving := range instances {
			// go-oidc fetches the JWKS as served, as a relying party does.
			jwks := oidc.NewRemoteKeySet(ctx, serving.base+"/.well-known/jwks.json")
			for _, kind := range []string{"access_token", "id_token"} {
				if _, err := jwks.VerifySignature(ctx, tok.str(kind)); err != nil {
					t.Errorf("%s of instance %d, with the JWKS of instance %d: %v", kind, i, j, err)
				}
			}
			if me := get(serving.base, "/api/v1/me", tok.str("access_token")); me.status != 200 {
				t.Errorf("access token of instance %d at instance %d: /api/v1/me = %d %v", i, j, me.status, me.body)
			}
		}
	}
}
