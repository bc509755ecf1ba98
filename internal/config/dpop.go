package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// DPoPNonceSecretEnv is where, besides dpop.nonce_secret_file, the secret
// that server nonces are made with comes from (never the YAML file or a
// flag).
const DPoPNonceSecretEnv = "OAUTH2D_DPOP_NONCE_SECRET"

// DPoP configures sender-constrained tokens (RFC 9449). DPoP itself is
// always on: a client that sends a proof gets bound tokens.
type DPoP struct {
	// Algorithms are the proof algorithms accepted (and advertised as
	// dpop_signing_alg_values_supported); asymmetric JWS algorithms only.
	Algorithms []string `yaml:"algorithms"`
	// MaxAge is how old a proof may be (its iat); a proof's jti is
	// remembered in Redis this long.
	MaxAge time.Duration `yaml:"max_age"`
	// RequireForPublicClients makes every public client use DPoP, as if
	// each were registered with dpop_bound_access_tokens.
	RequireForPublicClients bool `yaml:"require_for_public_clients"`
	// Nonces makes every proof carry a server nonce (RFC 9449 §8, §9),
	// which bounds how far ahead a stolen device could make proofs.
	Nonces bool `yaml:"nonces"`
	// NonceLifetime is how often the nonce changes; one stays valid for
	// up to twice that.
	NonceLifetime time.Duration `yaml:"nonce_lifetime"`
	// NonceSecretFile names a file holding the nonce secret, used when
	// OAUTH2D_DPOP_NONCE_SECRET is not set.
	NonceSecretFile string `yaml:"nonce_secret_file"`
	// NonceSecret keys the nonces; every instance needs the same one. A
	// secret, so it comes only from the environment or NonceSecretFile.
	NonceSecret string `yaml:"-"`
	// PublicPerIP bounds, per client address and minute, the proofs public
	// clients (which authenticate with nothing but their id) may send to
	// the token endpoint: each proof's jti is stored for MaxAge before the
	// grant is checked, so anonymous callers could otherwise fill Redis.
	// 0 turns it off.
	PublicPerIP int `yaml:"public_per_ip"`
}

// DPoPAlgorithms lists what dpop.algorithms may name.
func DPoPAlgorithms() []string {
	return []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}
}

func defaultDPoP() DPoP {
	return DPoP{
		Algorithms:    []string{"ES256", "ES384", "PS256", "RS256", "EdDSA"},
		MaxAge:        time.Minute,
		NonceLifetime: 2 * time.Minute,
		// An honest public client spends one unit per token request (two
		// when it must first learn a nonce): a sign-in, then a refresh
		// per access-token lifetime (15m by default). 300 a minute is
		// then thousands of active users behind one carrier-grade NAT,
		// or a burst of 300 sign-ins at once, while one address keeps at
		// most about 300 × (1 + max_age/1m) replay records alive (600
		// with the 1m default).
		PublicPerIP: 300,
	}
}

func (c *Config) dpopSettings() []setting {
	return []setting{
		{"dpop.algorithms", "DPoP proof algorithms accepted, comma-separated", (*listValue)(&c.DPoP.Algorithms)},
		{"dpop.max_age", "how old a DPoP proof may be", (*durationValue)(&c.DPoP.MaxAge)},
		{"dpop.require_for_public_clients", "public clients must use DPoP", (*boolValue)(&c.DPoP.RequireForPublicClients)},
		{"dpop.nonces", "DPoP proofs must carry a server nonce (needs $" + DPoPNonceSecretEnv + " or dpop.nonce_secret_file)", (*boolValue)(&c.DPoP.Nonces)},
		{"dpop.nonce_lifetime", "how often the DPoP nonce changes", (*durationValue)(&c.DPoP.NonceLifetime)},
		{"dpop.nonce_secret_file", "file holding the DPoP nonce secret (else $" + DPoPNonceSecretEnv + ")", (*stringValue)(&c.DPoP.NonceSecretFile)},
		{"dpop.public_per_ip", "DPoP proofs per minute per address from public clients at the token endpoint (0 = unlimited)", (*intValue)(&c.DPoP.PublicPerIP)},
	}
}

func (c *Config) loadDPoPNonceSecret(getenv func(string) string) error {
	if v := getenv(DPoPNonceSecretEnv); v != "" {
		c.DPoP.NonceSecret = v
		return nil
	}
	if c.DPoP.NonceSecretFile == "" {
		return nil
	}
	data, err := os.ReadFile(c.DPoP.NonceSecretFile)
	if err != nil {
		return fmt.Errorf("config: dpop.nonce_secret_file: %w", err)
	}
	c.DPoP.NonceSecret = strings.TrimSpace(string(data))
	return nil
}

func (c *Config) validateDPoP(bad func(setting, format string, args ...any)) {
	d := c.DPoP
	if len(d.Algorithms) == 0 {
		bad("dpop.algorithms", "must name at least one of %s", strings.Join(DPoPAlgorithms(), ", "))
	}
	for _, a := range d.Algorithms {
		if !slices.Contains(DPoPAlgorithms(), a) {
			bad("dpop.algorithms", "%q is not one of %s (asymmetric algorithms only: RFC 9449 §4.2)", a, strings.Join(DPoPAlgorithms(), ", "))
		}
	}
	if d.PublicPerIP < 0 {
		bad("dpop.public_per_ip", "must not be negative")
	}
	if d.MaxAge < time.Second || d.MaxAge > 10*time.Minute {
		bad("dpop.max_age", "must be from 1s to 10m, not %v", d.MaxAge)
	}
	if d.Nonces {
		if d.NonceLifetime < time.Second || d.NonceLifetime > time.Hour {
			bad("dpop.nonce_lifetime", "must be from 1s to 1h, not %v", d.NonceLifetime)
		}
		if len(d.NonceSecret) < 32 {
			bad("dpop.nonce_secret", "must be set, at least 32 characters and the same on every instance (%s or dpop.nonce_secret_file) when dpop.nonces is true", DPoPNonceSecretEnv)
		}
	}
}
