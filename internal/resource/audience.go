package resource

import (
	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/resourceserver"
	"github.com/oauth2d/oauth2d/resourceserver/ginrs"
)

// RequireAudience returns middleware that authenticates the request's
// token as RequireScopes does and lets it through only if its aud names
// one of audience: each resource takes only the tokens issued for it (RFC
// 8707, RFC 9068 §4), and a token for another is invalid_token here. now
// also asks Redis whether the token was revoked (RequireScopesNow). The
// claims are stored for the RequireScopes that follows it on the route.
// metadataURL, when set, is the resource's metadata document (RFC 9728),
// named in the route's 401 challenges.
func (a *Authenticator) RequireAudience(now bool, metadataURL string, audience ...string) gin.HandlerFunc {
	reqs := []resourceserver.Requirement{resourceserver.Audience(audience...)}
	if metadataURL != "" {
		reqs = append(reqs, resourceserver.ResourceMetadata(metadataURL))
	}
	if now {
		reqs = append(reqs, resourceserver.Check(a.checkStored))
	}
	return ginrs.Require(a.rs, reqs...)
}
