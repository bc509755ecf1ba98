package admin

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/resource"
)

// Audit logs who read or changed what: every request, reads too, since
// a list of clients or users is itself worth knowing who looked at. The
// CLI logs its changes with the same message and attributes
// (cmd/oauth2d), so one search finds both.
func (a *API) Audit(c *gin.Context) {
	c.Next()
	msg := "admin: change"
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		msg = "admin: read"
	}
	claims, _ := resource.ClaimsFrom(c)
	a.d.Logger.InfoContext(c.Request.Context(), msg,
		"method", c.Request.Method, "path", c.Request.URL.Path, "query", c.Request.URL.RawQuery,
		"status", c.Writer.Status(), "sub", claims.Subject, "client_id", claims.ClientID)
}
