package main

import (
	"context"
	"slices"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
)

// client create takes the device code grant (RFC 8628) for a public
// client without redirect URIs, with refresh_token.
func TestClientCreateDeviceGrant(t *testing.T) {
	env, st := adminEnv(t)
	mustRun(t, env, "", "client", "create", "--id", "tv", "--public",
		"--grant-type", account.GrantDeviceCode, "--grant-type", "refresh_token", "--scope", "openid")
	c, err := st.GetClient(context.Background(), "tv")
	if err != nil || !slices.Equal(c.GrantTypes, []string{account.GrantDeviceCode, "refresh_token"}) {
		t.Fatalf("client = %+v, %v; want the device code grant", c, err)
	}
}
