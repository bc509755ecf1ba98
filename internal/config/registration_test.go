package config

import (
	"strings"
	"testing"
)

func TestValidateRegistration(t *testing.T) {
	digest := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		mutate  func(r *Registration)
		wantErr string
	}{
		{"default is off", func(r *Registration) {}, ""},
		{"open", func(r *Registration) { r.Mode = RegistrationOpen }, ""},
		{"initial access token", func(r *Registration) { r.Mode, r.InitialAccessTokenSHA256 = RegistrationIAT, []string{digest} }, ""},
		{"unknown mode", func(r *Registration) { r.Mode = "on" }, "config: registration.mode: must be off"},
		{"initial access token without one", func(r *Registration) { r.Mode = RegistrationIAT }, "config: registration.initial_access_token_sha256: must list"},
		{"a token, not its digest", func(r *Registration) { r.InitialAccessTokenSHA256 = []string{"my-secret-token"} }, "must be 64 hex digits"},
		{"admin scope", func(r *Registration) { r.Scopes = []string{"openid", "admin"} }, `config: registration.scopes: "admin" carries administrator powers`},
		{"moderate scope", func(r *Registration) { r.Scopes = []string{"comments:moderate"} }, "administrator powers"},
		{"bad scope token", func(r *Registration) { r.Scopes = []string{"a b"} }, "is not a scope token"},
		{"negative budget", func(r *Registration) { r.PerIP = -1 }, "config: registration.per_ip"},
		{"no cap", func(r *Registration) { r.MaxClients = 0 }, "config: registration.max_clients"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.fillDerived()
			tc.mutate(&c.Registration)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
