package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// maxBody bounds a request body: registrations are small.
const maxBody = 64 << 10

// Hasher hashes new client secrets and passwords; *secret.Hasher is one.
type Hasher interface {
	Hash(s string) (string, error)
}

var _ Hasher = (*secret.Hasher)(nil)

// Revoker ends a user's or a client's tokens; *account.Revoker is one.
type Revoker interface {
	RevokeUser(ctx context.Context, userID string) (time.Time, int, error)
	RevokeClient(ctx context.Context, clientID string) error
}

var _ Revoker = (*account.Revoker)(nil)

// UserLogouts ends every browser session of a user and tells the
// relying parties (OIDC Back-Channel Logout); *backchannel.Logouts is one.
type UserLogouts interface {
	UserSignedOut(ctx context.Context, userID string) error
}

// Deps is what the admin API needs.
type Deps struct {
	Revoker Revoker
	// Logouts signs a user out everywhere when an admin deletes them or
	// revokes their tokens; nil: their sessions end only by themselves.
	Logouts   UserLogouts
	Clients   storage.ClientStore
	Users     storage.UserStore
	Resources storage.ResourceStore
	// Factors are the users' second factors (TOTP, recovery codes, passkeys).
	Factors FactorStore
	Hasher  Hasher
	// Registration is the configuration's say in client and resource
	// registrations, as for the bootstrap file (insecure_dev,
	// outbound.allow_internal, the built-in resources, tokens.access_ttl).
	Registration account.Policy
	Logger       *slog.Logger     // discards when nil
	Now          func() time.Time // time.Now when nil
}

// API serves /admin/v1.
type API struct {
	d Deps
}

// New returns the admin API. Its handlers expect the bearer middleware
// with scope account.ScopeAdmin, then Audit, in front of them.
func New(d Deps) (*API, error) {
	if d.Revoker == nil || d.Clients == nil || d.Users == nil || d.Resources == nil || d.Factors == nil || d.Hasher == nil {
		return nil, errors.New("admin: needs a revoker, client, user, resource and factor stores and a hasher")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &API{d: d}, nil
}

// notFound and friends answer with RFC 9457 problems.
func notFound(c *gin.Context, what string) {
	problem.Write(c, http.StatusNotFound, "no such "+what)
}

func (a *API) internalError(c *gin.Context, what string, err error) {
	a.d.Logger.ErrorContext(c.Request.Context(), "admin: "+what, "err", err)
	problem.ServerError(c, err)
}

// invalid answers 400 listing every problem the validators found.
func invalid(c *gin.Context, what string, errs []error) {
	fe := make([]problem.FieldError, 0, len(errs))
	for _, err := range errs {
		fe = append(fe, fieldError(err))
	}
	problem.Write(c, http.StatusBadRequest, fmt.Sprintf("the %s is invalid", what), fe...)
}

// fieldError reports a registration policy error by its field; an error
// of another kind is kept whole as the detail.
func fieldError(err error) problem.FieldError {
	var fe *account.FieldError
	if errors.As(err, &fe) {
		return problem.FieldError{Field: fe.Field, Detail: fe.Detail}
	}
	return problem.FieldError{Detail: err.Error()}
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

// ManagedDetail says why a record the bootstrap file declares cannot be
// changed or deleted through the admin API or the CLI: the next apply of
// the file (every start, and after Redis lost its data) would undo it.
// what is "client", "user" or "resource"; name its id or username.
func ManagedDetail(what, name string) string {
	return fmt.Sprintf("%s %q is managed by the bootstrap file (OAUTH2D_BOOTSTRAP): change it there, "+
		"or remove it from the file to manage it here", what, name)
}

// refuseManaged answers 409 and reports true for a record the bootstrap
// file declares.
func refuseManaged(c *gin.Context, managedBy, what, name string) bool {
	if managedBy != storage.ManagedByBootstrap {
		return false
	}
	problem.Write(c, http.StatusConflict, ManagedDetail(what, name))
	return true
}
