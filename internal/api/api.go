package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// Scopes the protected API knows. A user with account.RoleAdmin may post
// on behalf of any user and delete any comment, through a token that has
// account.ScopeCommentsModerate (moderates) too.
const (
	ScopeProfile       = "profile"
	ScopeCommentsRead  = "comments:read"
	ScopeCommentsWrite = "comments:write"
)

// UserGetter finds the user behind a token's subject; *storage.Store is
// one.
type UserGetter interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// Bearer answers for the bearer middleware when a handler finds that a
// verified token no longer stands for anyone; *resource.Authenticator is
// one, so the challenge has the one shape every protected route uses.
type Bearer interface {
	Reject(c *gin.Context, reason resource.Reason)
}

// Logouts ends a token and its grant; *account.Revoker is one.
type Logouts interface {
	Logout(ctx context.Context, claims *token.AccessClaims) (int, error)
}

// Deps is what the protected API needs.
type Deps struct {
	Bearer   Bearer
	Revoker  Logouts
	Comments storage.CommentStore
	Users    UserGetter
	Logger   *slog.Logger     // discards when nil
	Now      func() time.Time // time.Now when nil
	// MaxMessageLen caps a comment, in characters (DefaultMaxMessageLen
	// when 0).
	MaxMessageLen int
}

// DefaultMaxMessageLen is the longest comment accepted, in characters.
const DefaultMaxMessageLen = 2000

// API is the protected comments API of DESIGN.md §5 and §6.
type API struct {
	bearer   Bearer
	revoker  Logouts
	comments storage.CommentStore
	users    UserGetter
	log      *slog.Logger
	now      func() time.Time
	maxLen   int
}

// New returns the protected API. Its handlers expect the bearer
// middleware (resource.Authenticator.RequireScopes) in front of them.
func New(d Deps) (*API, error) {
	if d.Bearer == nil || d.Revoker == nil || d.Comments == nil || d.Users == nil {
		return nil, errors.New("api: needs a bearer authenticator, a revoker, a comment store and a user store")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxMessageLen <= 0 {
		d.MaxMessageLen = DefaultMaxMessageLen
	}
	return &API{bearer: d.Bearer, revoker: d.Revoker, comments: d.Comments, users: d.Users,
		log: d.Logger, now: d.Now, maxLen: d.MaxMessageLen}, nil
}

// meResponse is DESIGN.md §6's GET /api/v1/me.
type meResponse struct {
	Sub      string   `json:"sub"`
	Username string   `json:"username"` // empty for a client acting for itself
	Roles    []string `json:"roles"`
	Scope    string   `json:"scope"`
	ClientID string   `json:"client_id"`
}

// Me answers GET /api/v1/me.
func (a *API) Me(c *gin.Context) {
	claims := mustClaims(c)
	resp := meResponse{Sub: claims.Subject, Roles: claims.Roles, Scope: strings.Join(claims.Scope, " "), ClientID: claims.ClientID}
	if resp.Roles == nil {
		resp.Roles = []string{}
	}
	if !account.IsClientToken(claims) {
		u, err := a.users.GetUser(c.Request.Context(), claims.Subject)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			a.bearer.Reject(c, resource.UnknownUser)
			return
		case err != nil:
			a.internalError(c, "load user", err)
			return
		}
		resp.Username = u.Username
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

// Logout ends the presented token and its grant on every instance
// (POST /api/v1/logout).
func (a *API) Logout(c *gin.Context) {
	claims := mustClaims(c)
	if _, err := a.revoker.Logout(c.Request.Context(), claims); err != nil {
		a.internalError(c, "logout", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}

// mustClaims returns the claims RequireScopes stored; a route without it
// is a programming error.
func mustClaims(c *gin.Context) *token.AccessClaims {
	claims, ok := resource.ClaimsFrom(c)
	if !ok {
		panic("api: handler reached without the bearer middleware")
	}
	return claims
}

// moderates reports whether the token may use its user's admin role in
// this API: the role, carried only through a scope the user consented to
// for the client (account.RolesCarried), and the moderation scope itself,
// checked here too so that the API does not rest on the issuer alone.
func moderates(c *token.AccessClaims) bool {
	return slices.Contains(c.Roles, account.RoleAdmin) && slices.Contains(c.Scope, account.ScopeCommentsModerate)
}

// internalError answers 500 (503 for a storage outage) with a fixed text;
// the detail goes to the log.
func (a *API) internalError(c *gin.Context, what string, err error) {
	a.log.ErrorContext(c.Request.Context(), "api: "+what, "err", err)
	problem.ServerError(c, err)
}
