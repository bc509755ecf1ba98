package oauth

import (
	"slices"
	"strings"

	"github.com/oauth2d/oauth2d/internal/account"
)

// Scopes with a meaning to the server itself.
const (
	ScopeOpenID        = "openid"
	ScopeOfflineAccess = "offline_access"
)

// AdvertisedScopes are the scopes discovery lists: those the server and
// its built-in API give a meaning to. Clients may be registered for others.
var AdvertisedScopes = []string{
	ScopeOpenID, "profile", "email", ScopeOfflineAccess, "comments:read", "comments:write", account.ScopeAdmin,
}

// parseScope splits a scope parameter (RFC 6749 §3.3) into its distinct
// tokens, keeping their order. ok is false when a token holds a character
// the grammar does not allow, or when the parameter is longer than
// maxScopeLen or has more than maxScopes tokens. Those bounds, checked
// first, keep the work linear in what a client may send: the duplicate
// check is quadratic in the number of tokens, which is at most maxScopes.
func parseScope(s string) (scopes []string, ok bool) {
	if len(s) > maxScopeLen {
		return nil, false
	}
	for _, tok := range strings.Split(s, " ") {
		if tok == "" {
			continue
		}
		if len(scopes) == maxScopes {
			return nil, false
		}
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, false
			}
		}
		if !slices.Contains(scopes, tok) {
			scopes = append(scopes, tok)
		}
	}
	return scopes, true
}

// subset reports whether every scope in want is in have.
func subset(want, have []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

// without returns scopes minus drop, in order.
func without(scopes []string, drop ...string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

// resolveScope decides the scope of a new grant: the requested scope when
// given (it must be a subset of what the client is registered for), else
// the client's registered scopes (RFC 6749 §3.3 lets the server pick a
// default). The admin scope is given to a user only when they hold the
// admin role, so a client registered for it cannot lend it to anyone.
func resolveScope(requested string, allowed []string, userRoles []string, forUser bool) ([]string, *Error) {
	want, ok := parseScope(requested)
	if !ok {
		return nil, ErrInvalidScope
	}
	if len(want) == 0 {
		want = allowed
		if forUser && !slices.Contains(userRoles, account.RoleAdmin) {
			want = without(want, account.ScopeAdmin)
		}
		return slices.Clone(want), nil
	}
	if !subset(want, allowed) {
		return nil, ErrInvalidScope
	}
	if forUser && slices.Contains(want, account.ScopeAdmin) && !slices.Contains(userRoles, account.RoleAdmin) {
		return nil, ErrInvalidScope
	}
	return want, nil
}

func joinScope(scopes []string) string { return strings.Join(scopes, " ") }
