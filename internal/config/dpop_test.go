package config

import (
	"strings"
	"testing"
)

func TestLoadDPoPNonceSecretFromEnv(t *testing.T) {
	env := map[string]string{DPoPNonceSecretEnv: strings.Repeat("x", 40), "OAUTH2D_DPOP_NONCES": "true", "OAUTH2D_DPOP_PUBLIC_PER_IP": "12"}
	c, err := Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !c.DPoP.Nonces || c.DPoP.NonceSecret != env[DPoPNonceSecretEnv] || c.DPoP.PublicPerIP != 12 {
		t.Fatalf("DPoP = %+v", c.DPoP)
	}
}
