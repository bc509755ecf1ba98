package oauth

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Bearer is the one RFC 6750 implementation, *resource.Authenticator:
// its middleware (RequireScopesNow(ScopeOpenID)) stands in front of
// Serve, and Serve refuses through it a token whose user is gone.
type Bearer interface {
	Reject(c *gin.Context, reason resource.Reason)
}

// Userinfo serves the OIDC UserInfo endpoint (OIDC Core §5.3) as an RFC
// 6750 protected resource.
type Userinfo struct {
	users  UserLookup
	bearer Bearer
	log    *slog.Logger
}

// NewUserinfo builds the endpoint.
func NewUserinfo(users UserLookup, bearer Bearer, logger *slog.Logger) (*Userinfo, error) {
	if users == nil || bearer == nil || logger == nil {
		return nil, errors.New("oauth: userinfo needs a user lookup, the bearer authenticator and a logger")
	}
	return &Userinfo{users: users, bearer: bearer, log: logger}, nil
}

// Serve answers GET and POST /oauth2/userinfo (OIDC Core §5.3.1) with the
// user's claims the token's scope allows: sub always, profile and email
// claims as their scopes say (OIDC Core §5.4). The bearer middleware has
// checked the token (from the Authorization header only), its revocation
// in Redis and its openid scope.
func (u *Userinfo) Serve(c *gin.Context) {
	at, ok := resource.ClaimsFrom(c)
	if !ok {
		panic("oauth: userinfo reached without the bearer middleware")
	}
	ctx := c.Request.Context()
	// A client-credentials token's subject is a client, not a user, and a
	// deleted user has no claims left: both read as an invalid token.
	user, err := u.users.GetUser(ctx, at.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		u.bearer.Reject(c, resource.UnknownUser)
		return
	case err != nil:
		u.log.ErrorContext(ctx, "oauth: userinfo: load user", "err", err)
		u.bearer.Reject(c, resource.ReasonFor(err))
		return
	}
	claims := profileClaims(user, at.Scope)
	claims["sub"] = user.ID
	writeJSON(c.Writer, http.StatusOK, claims)
}
