package config

import "slices"

// MFA configures second factors (TOTP, recovery codes).
type MFA struct {
	// RequiredRoles: a user holding any of these roles must sign in with
	// a second factor, and one who has none enrols right after the
	// password, before anything else. Naming "admin" also makes the admin
	// API ask user tokens for the MFA authentication context (RFC 9470).
	RequiredRoles []string `yaml:"required_roles"`
}

func (c *Config) mfaSettings() []setting {
	return []setting{
		{"mfa.required_roles", "roles whose users must sign in with a second factor, comma-separated (admin also makes the admin API ask for it)", (*listValue)(&c.MFA.RequiredRoles)},
	}
}

// Requires reports whether a user with roles must use a second factor.
func (m MFA) Requires(roles []string) bool {
	return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(m.RequiredRoles, r) })
}
