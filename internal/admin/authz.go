package admin

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// RequireAdmin runs after the bearer middleware has checked the admin
// scope. A user's token must also carry the admin role, which it does only
// through the admin scope the user consented to for the client
// (account.RolesCarried), and the user must hold the role still: a
// demotion that revoked nothing (the bootstrap file re-applied) takes
// effect at once, not when the token expires. A machine client acting
// for itself has no role; its registration for the scope is its right.
func (a *API) RequireAdmin(c *gin.Context) {
	claims, ok := resource.ClaimsFrom(c)
	if !ok {
		a.internalError(c, "authorize", errors.New("admin: no claims; RequireAdmin must follow the bearer middleware"))
		c.Abort()
		return
	}
	if account.IsClientToken(claims) {
		c.Next()
		return
	}
	if !slices.Contains(claims.Roles, account.RoleAdmin) {
		problem.Write(c, http.StatusForbidden, "the token does not carry the admin role")
		c.Abort()
		return
	}
	u, err := a.d.Users.GetUser(c.Request.Context(), claims.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		problem.Write(c, http.StatusForbidden, "the token's user no longer exists")
		c.Abort()
		return
	case err != nil:
		a.internalError(c, "load the token's user", err)
		c.Abort()
		return
	case !slices.Contains(u.Roles, account.RoleAdmin):
		problem.Write(c, http.StatusForbidden, "the token's user is no longer an administrator")
		c.Abort()
		return
	}
	c.Next()
}
