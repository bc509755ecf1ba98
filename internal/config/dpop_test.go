package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateDPoP(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(c *Config)
		setting string // "" for a valid configuration
	}{
		{"defaults", func(*Config) {}, ""},
		{"a symmetric algorithm", func(c *Config) { c.DPoP.Algorithms = []string{"ES256", "HS256"} }, "dpop.algorithms"},
		{"no algorithm", func(c *Config) { c.DPoP.Algorithms = nil }, "dpop.algorithms"},
		{"max age of an hour", func(c *Config) { c.DPoP.MaxAge = time.Hour }, "dpop.max_age"},
		{"nonces without a secret", func(c *Config) { c.DPoP.Nonces = true }, "dpop.nonce_secret"},
		{"nonces with a short secret", func(c *Config) { c.DPoP.Nonces = true; c.DPoP.NonceSecret = "short" }, "dpop.nonce_secret"},
		{"nonces with a secret", func(c *Config) { c.DPoP.Nonces = true; c.DPoP.NonceSecret = strings.Repeat("s", 32) }, ""},
		{"negative public budget", func(c *Config) { c.DPoP.PublicPerIP = -1 }, "dpop.public_per_ip"},
		{"no public budget", func(c *Config) { c.DPoP.PublicPerIP = 0 }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.fillDerived()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.setting == "" && err != nil:
				t.Fatalf("Validate = %v", err)
			case tc.setting != "" && (err == nil || !strings.Contains(err.Error(), "config: "+tc.setting+":")):
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.setting)
			}
		})
	}
}

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
