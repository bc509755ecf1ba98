package resource

import (
	"slices"

	"github.com/gin-gonic/gin"
)

// RequireAudience returns middleware that authenticates the request's
// token as RequireScopes does and lets it through only if its aud names
// one of audience: each resource takes only the tokens issued for it (RFC
// 8707, RFC 9068 §4), and a token for another is invalid_token here. now
// also asks Redis whether the token was revoked (RequireScopesNow). The
// claims are stored for the RequireScopes that follows it on the route.
func (a *Authenticator) RequireAudience(now bool, audience ...string) gin.HandlerFunc {
	audience = slices.Clone(audience)
	return func(c *gin.Context) {
		a.markScheme(c)
		claims, f := a.authenticate(c.Request)
		if f == nil && !slices.ContainsFunc(claims.Audience, func(aud string) bool { return slices.Contains(audience, aud) }) {
			f = failInvalid
		}
		if f == nil && now {
			f = a.checkStored(c.Request.Context(), claims)
		}
		if f != nil {
			a.chal.abort(c, f, "")
			return
		}
		WithClaims(c, claims)
		c.Next()
	}
}
