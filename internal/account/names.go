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
	// GrantDeviceCode is the device authorization grant (RFC 8628 §3.4),
	// which go-oauth2 does not name.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// SupportedGrantTypes lists them in the order discovery shows them.
var SupportedGrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantPassword, GrantClientCredentials, GrantDeviceCode}

// ScopeAdmin is the scope every /admin/v1 call needs; only users with
// RoleAdmin (and machine clients registered for it) are granted it.
const ScopeAdmin = "admin"

// ScopeCommentsModerate lets a token use its user's RoleAdmin in the
// comments API: post on behalf of another user, delete anyone's comment.
const ScopeCommentsModerate = "comments:moderate"

// RoleAdmin is the role that may be granted ScopeAdmin and
// ScopeCommentsModerate.
const RoleAdmin = "admin"

// roleScopes names, for each role that carries powers, the scopes through
// which a token may use them (RFC 9700 §2.3): a user's role reaches an
// API only through a scope the user consented to for that client. A role
// listed here is granted those scopes only to its holders, and is carried
// in a token only when the token has one of them; a role not listed
// carries no power and is always carried.
var roleScopes = map[string][]string{RoleAdmin: {ScopeAdmin, ScopeCommentsModerate}}

// RolesAllowScope reports whether a user with roles may be granted scope:
// a scope some role's powers go through needs that role.
func RolesAllowScope(roles []string, scope string) bool {
	for role, scopes := range roleScopes {
		if slices.Contains(scopes, scope) && !slices.Contains(roles, role) {
			return false
		}
	}
	return true
}

// RolesCarried is what of roles a token with scope carries: every role
// whose powers go through a scope only when the scope has one of them.
func RolesCarried(roles, scope []string) []string {
	out := make([]string, 0, len(roles))
	for _, role := range roles {
		gates, gated := roleScopes[role]
		if !gated || slices.ContainsFunc(gates, func(s string) bool { return slices.Contains(scope, s) }) {
			out = append(out, role)
		}
	}
	return out
}
