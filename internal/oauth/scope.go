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
	ScopeOpenID, "profile", "email", ScopeOfflineAccess, "comments:read", "comments:write", account.ScopeCommentsModerate, account.ScopeAdmin,
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

func joinScope(scopes []string) string { return strings.Join(scopes, " ") }
