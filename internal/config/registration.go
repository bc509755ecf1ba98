package config

import (
	"encoding/hex"
	"regexp"
	"slices"
)

// Registration modes (registration.mode).
const (
	RegistrationOff  = "off" // no registration endpoint (the default)
	RegistrationIAT  = "initial_access_token"
	RegistrationOpen = "open" // anyone may register a client
)

// Registration configures dynamic client registration (RFC 7591) and its
// management protocol (RFC 7592). A client registered this way is marked
// self-registered: never first party, and shown as unverified on the
// consent page.
type Registration struct {
	// Mode is off (no endpoint), initial_access_token (a caller presents
	// one of InitialAccessTokenSHA256's tokens as Bearer, RFC 7591 §3) or
	// open (anyone).
	Mode string `yaml:"mode"`
	// InitialAccessTokenSHA256 are the SHA-256 digests (hex) of the
	// initial access tokens the operator hands out: the tokens themselves
	// are never configured, so the file, the environment and the flags
	// hold nothing that registers a client.
	InitialAccessTokenSHA256 []string `yaml:"initial_access_token_sha256"`
	// Scopes are the most a self-registered client may be registered for.
	// Administrative scopes (PrivilegedScopes) are refused.
	Scopes []string `yaml:"scopes"`
	// PerIP bounds registrations per client address and minute (0 = no
	// limit): each spends it, whatever its outcome.
	PerIP int `yaml:"per_ip"`
	// MaxClients caps the self-registered clients stored at once; past it
	// a registration is refused until one is deleted.
	MaxClients int `yaml:"max_clients"`
}

// PrivilegedScopes carry administrator powers (account.ScopeAdmin,
// account.ScopeCommentsModerate): no self-registered client may hold
// them, whatever registration.scopes says.
var PrivilegedScopes = []string{"admin", "comments:moderate"}

func defaultRegistration() Registration {
	return Registration{Mode: RegistrationOff, Scopes: []string{"openid", "profile", "email", "offline_access"}, PerIP: 5, MaxClients: 1000}
}

func (c *Config) registrationSettings() []setting {
	return []setting{
		{"registration.mode", "dynamic client registration (RFC 7591): off, initial_access_token or open", (*stringValue)(&c.Registration.Mode)},
		{"registration.initial_access_token_sha256", "SHA-256 (hex) of each initial access token accepted in initial_access_token mode, comma-separated", (*listValue)(&c.Registration.InitialAccessTokenSHA256)},
		{"registration.scopes", "the scopes a self-registered client may be registered for, comma-separated", (*listValue)(&c.Registration.Scopes)},
		{"registration.per_ip", "registrations per minute per client address (0 = unlimited)", (*intValue)(&c.Registration.PerIP)},
		{"registration.max_clients", "most self-registered clients stored at once", (*intValue)(&c.Registration.MaxClients)},
	}
}

var scopeTokenPattern = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`)

func (c *Config) validateRegistration(bad func(setting, format string, args ...any)) {
	r := c.Registration
	if !slices.Contains([]string{RegistrationOff, RegistrationIAT, RegistrationOpen}, r.Mode) {
		bad("registration.mode", "must be off, initial_access_token or open, not %q", r.Mode)
	}
	if r.Mode == RegistrationIAT && len(r.InitialAccessTokenSHA256) == 0 {
		bad("registration.initial_access_token_sha256", "must list at least one digest in initial_access_token mode")
	}
	for _, h := range r.InitialAccessTokenSHA256 {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			bad("registration.initial_access_token_sha256", "each entry must be 64 hex digits (sha256sum of the token), not %.12q…", h)
			break
		}
	}
	for _, s := range r.Scopes {
		switch {
		case !scopeTokenPattern.MatchString(s):
			bad("registration.scopes", "%.40q is not a scope token (RFC 6749 §3.3)", s)
		case slices.Contains(PrivilegedScopes, s):
			bad("registration.scopes", "%q carries administrator powers and cannot go to a self-registered client", s)
		}
	}
	if r.PerIP < 0 {
		bad("registration.per_ip", "must not be negative")
	}
	if r.MaxClients < 1 || r.MaxClients > 1_000_000 {
		bad("registration.max_clients", "must be from 1 to 1000000, not %d", r.MaxClients)
	}
}
