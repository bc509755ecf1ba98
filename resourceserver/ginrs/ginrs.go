// Package ginrs adapts package resourceserver to gin: the same checks and
// answers as its net/http middleware, for gin routes.
package ginrs

import (
	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/resourceserver"
)

// Require is resourceserver.Resource.Require as gin middleware: it aborts
// the request with the package's answer, or stores the claims in the
// request's context (ClaimsFrom) and calls the next handler.
func Require(rs *resourceserver.Resource, reqs ...resourceserver.Requirement) gin.HandlerFunc {
	return Authorize(rs.Policy(reqs...))
}

// Authorize is the gin middleware of policy.
func Authorize(policy *resourceserver.Policy) gin.HandlerFunc {
	return func(c *gin.Context) {
		r, ok := policy.Authorize(c.Writer, c.Request)
		if !ok {
			c.Abort()
			return
		}
		c.Request = r
		c.Next()
	}
}

// ClaimsFrom returns the claims Require stored for this request.
func ClaimsFrom(c *gin.Context) (*resourceserver.Claims, bool) {
	return resourceserver.ClaimsFromContext(c.Request.Context())
}

// Reject answers as the middleware would for err (see
// resourceserver.Resource.Reject) and aborts the request.
func Reject(c *gin.Context, rs *resourceserver.Resource, err error) {
	rs.Reject(c.Writer, c.Request, err)
	c.Abort()
}
