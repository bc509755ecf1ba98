package resource

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// Scopes and the role the protected API knows.
const (
	ScopeProfile       = "profile"
	ScopeCommentsRead  = "comments:read"
	ScopeCommentsWrite = "comments:write"
	// RoleAdmin may post on behalf of any user and delete any comment.
	RoleAdmin = "admin"
)

// UserGetter finds the user behind a token's subject; *storage.Store is
// one.
type UserGetter interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// APIDeps is what the protected API needs.
type APIDeps struct {
	Auth     *Authenticator
	Revoker  *Revoker
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
	auth     *Authenticator
	revoker  *Revoker
	comments storage.CommentStore
	users    UserGetter
	log      *slog.Logger
	now      func() time.Time
	maxLen   int
}

// NewAPI returns the protected API.
func NewAPI(d APIDeps) (*API, error) {
	if d.Auth == nil || d.Revoker == nil || d.Comments == nil || d.Users == nil {
		return nil, errors.New("resource: API needs an authenticator, a revoker, a comment store and a user store")
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
	return &API{auth: d.Auth, revoker: d.Revoker, comments: d.Comments, users: d.Users,
		log: d.Logger, now: d.Now, maxLen: d.MaxMessageLen}, nil
}

// Register adds the /api/v1 routes.
func (a *API) Register(r gin.IRouter) {
	g := r.Group("/api/v1")
	g.GET("/me", a.auth.RequireScopes(ScopeProfile), a.me)
	g.GET("/comments", a.auth.RequireScopes(ScopeCommentsRead), a.listComments)
	g.POST("/comments", a.auth.RequireScopes(ScopeCommentsWrite), a.postComment)
	g.DELETE("/comments/:id", a.auth.RequireScopes(ScopeCommentsWrite), a.deleteComment)
	g.POST("/logout", a.auth.RequireScopes(), a.logout)
}

// meResponse is DESIGN.md §6's GET /api/v1/me.
type meResponse struct {
	Sub      string   `json:"sub"`
	Username string   `json:"username"` // empty for a client acting for itself
	Roles    []string `json:"roles"`
	Scope    string   `json:"scope"`
	ClientID string   `json:"client_id"`
}

func (a *API) me(c *gin.Context) {
	claims := mustClaims(c)
	resp := meResponse{Sub: claims.Subject, Roles: claims.Roles, Scope: strings.Join(claims.Scope, " "), ClientID: claims.ClientID}
	if resp.Roles == nil {
		resp.Roles = []string{}
	}
	if !IsClientToken(claims) {
		u, err := a.users.GetUser(c.Request.Context(), claims.Subject)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			a.auth.chal.abort(c, failUnknownUser, "")
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

// logout ends the presented token and its grant on every instance.
func (a *API) logout(c *gin.Context) {
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
	claims, ok := ClaimsFrom(c)
	if !ok {
		panic("resource: handler reached without RequireScopes")
	}
	return claims
}

func isAdmin(c *token.AccessClaims) bool { return slices.Contains(c.Roles, RoleAdmin) }

// internalError answers 500 with a fixed text; the detail goes to the log.
func (a *API) internalError(c *gin.Context, what string, err error) {
	a.log.ErrorContext(c.Request.Context(), "resource: "+what, "err", err)
	WriteProblem(c, http.StatusInternalServerError, "")
}
