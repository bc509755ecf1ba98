package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/bootstrap"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// ScopeAdmin is the scope every /admin/v1 call needs.
const ScopeAdmin = "admin"

// maxBody bounds a request body: registrations are small.
const maxBody = 64 << 10

// Hasher hashes new client secrets and passwords; *secret.Hasher is one.
type Hasher interface {
	Hash(s string) (string, error)
}

var _ Hasher = (*secret.Hasher)(nil)

// Revoker ends a user's or a client's tokens; *resource.Revoker is one.
type Revoker interface {
	RevokeUser(ctx context.Context, userID string) (time.Time, int, error)
	RevokeClient(ctx context.Context, clientID string) error
}

var _ Revoker = (*resource.Revoker)(nil)

// Deps is what the admin API needs.
type Deps struct {
	Auth    *resource.Authenticator
	Revoker Revoker
	Clients storage.ClientStore
	Users   storage.UserStore
	Hasher  Hasher
	// Dev allows plain-http redirect URIs on any host, as for bootstrap.
	Dev    bool
	Logger *slog.Logger     // discards when nil
	Now    func() time.Time // time.Now when nil
}

// API serves /admin/v1.
type API struct {
	d Deps
}

// New returns the admin API.
func New(d Deps) (*API, error) {
	if d.Auth == nil || d.Revoker == nil || d.Clients == nil || d.Users == nil || d.Hasher == nil {
		return nil, errors.New("admin: needs an authenticator, a revoker, client and user stores and a hasher")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &API{d: d}, nil
}

// Register adds the /admin/v1 routes, all behind a bearer token with scope
// admin.
func (a *API) Register(r gin.IRouter) {
	g := r.Group("/admin/v1", a.d.Auth.RequireScopes(ScopeAdmin), a.audit)
	g.GET("/clients", a.listClients)
	g.POST("/clients", a.createClient)
	g.GET("/clients/:id", a.getClient)
	g.PUT("/clients/:id", a.updateClient)
	g.DELETE("/clients/:id", a.deleteClient)
	g.POST("/clients/:id/secret", a.rotateSecret)
	g.GET("/users", a.listUsers)
	g.POST("/users", a.createUser)
	g.GET("/users/:id", a.getUser)
	g.PATCH("/users/:id", a.updateUser)
	g.DELETE("/users/:id", a.deleteUser)
	g.POST("/users/:id/revoke-tokens", a.revokeUserTokens)
}

// audit logs who changed what; reads are not logged.
func (a *API) audit(c *gin.Context) {
	c.Next()
	if c.Request.Method == http.MethodGet {
		return
	}
	claims, _ := resource.ClaimsFrom(c)
	a.d.Logger.InfoContext(c.Request.Context(), "admin: change",
		"method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(),
		"sub", claims.Subject, "client_id", claims.ClientID)
}

// notFound and friends answer with RFC 9457 problems.
func notFound(c *gin.Context, what string) {
	resource.WriteProblem(c, http.StatusNotFound, "no such "+what)
}

func (a *API) internalError(c *gin.Context, what string, err error) {
	a.d.Logger.ErrorContext(c.Request.Context(), "admin: "+what, "err", err)
	resource.WriteProblem(c, http.StatusInternalServerError, "")
}

// invalid answers 400 listing every problem the validators found.
func invalid(c *gin.Context, what string, errs []error) {
	fe := make([]resource.FieldError, 0, len(errs))
	for _, err := range errs {
		fe = append(fe, fieldError(err))
	}
	resource.WriteProblem(c, http.StatusBadRequest, fmt.Sprintf("the %s is invalid", what), fe...)
}

// fieldError reports a bootstrap validation error by its field; an error
// of another kind is kept whole as the detail.
func fieldError(err error) resource.FieldError {
	var fe *bootstrap.FieldError
	if errors.As(err, &fe) {
		return resource.FieldError{Field: fe.Field, Detail: fe.Detail}
	}
	return resource.FieldError{Detail: strings.TrimPrefix(err.Error(), "bootstrap: ")}
}

// lookup answers 404 or 500 for a failed read and reports whether it did.
func (a *API) lookup(c *gin.Context, err error, what string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, storage.ErrNotFound):
		notFound(c, what)
	default:
		a.internalError(c, "load "+what, err)
	}
	return true
}

func noStore(c *gin.Context) { c.Header("Cache-Control", "no-store") }
