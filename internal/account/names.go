package account

import (
	"slices"

	"github.com/go-oauth2/oauth2/v4"
)

// The grant types the server implements (RFC 6749 §4), named as
// go-oauth2 names them. The implicit grant is not among them (RFC 9700
// §2.1.2).
const (
	GrantAuthorizationCode = string(oauth2.AuthorizationCode)
	GrantPassword          = string(oauth2.PasswordCredentials)
	GrantRefreshToken      = string(oauth2.Refreshing)
	GrantClientCredentials = string(oauth2.ClientCredentials)
)

// SupportedGrantTypes lists them in the order discovery shows them.
var SupportedGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantPassword, GrantClientCredentials}

// ScopeAdmin is the scope every /admin/v1 call needs; only users with
// RoleAdmin (and machine clients registered for it) are granted it.
const ScopeAdmin = "admin"

// RoleAdmin is the role that may be granted ScopeAdmin and that may act on
// behalf of other users in the comments API.
const RoleAdmin = "admin"

// scopeRoles names the scopes a user is granted only while holding a role:
// a client registered for one cannot lend it to anybody else.
var scopeRoles = map[string]string{ScopeAdmin: RoleAdmin}

// RolesAllowScope reports whether a user with roles may be granted scope.
func RolesAllowScope(roles []string, scope string) bool {
	role, gated := scopeRoles[scope]
	return !gated || slices.Contains(roles, role)
}
