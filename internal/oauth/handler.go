package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// Store is the part of the data layer the authorization server uses.
type Store interface {
	storage.ClientStore
	storage.UserStore
	storage.CodeStore
	storage.RefreshStore
	storage.RevocationStore
	AccessRevocations
}

// AccessRevocations tells whether an access token was revoked, by its jti
// or by a cutoff of its subject or client (admin "revoke all tokens").
type AccessRevocations interface {
	IsAccessRevoked(ctx context.Context, jti, subject, clientID string, issuedAt time.Time) (bool, error)
}

// ClientLookup finds registered clients; storage.ClientCache is the fast
// one.
type ClientLookup interface {
	GetClient(ctx context.Context, id string) (*storage.Client, error)
}

// UserLookup finds users by id; storage.UserCache is the fast one.
type UserLookup interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// Minter signs the tokens the server issues.
type Minter interface {
	MintAccess(req token.AccessRequest) (string, token.AccessClaims, error)
	MintIDToken(c token.IDClaims) (string, error)
}

// AccessVerifier checks access tokens this server issued.
type AccessVerifier interface {
	VerifyAccess(raw string) (*token.AccessClaims, error)
}

// Config holds the settings of the token, revocation and introspection
// endpoints.
type Config struct {
	Issuer          string
	AccessTokenTTL  time.Duration
	IDTokenTTL      time.Duration // zero: AccessTokenTTL
	RefreshSliding  time.Duration // idle lifetime of a refresh-token family
	RefreshAbsolute time.Duration // hard lifetime of a family, however often it is used
	// RefreshGrace, when > 0, lets a refresh token rotated out in the last
	// RefreshGrace be presented once more and answered with the very same
	// successor, for two legitimate concurrent refreshes. 0 (default): any
	// reuse revokes the family.
	RefreshGrace time.Duration
	MaxBodyBytes int64
}

// Handler serves /oauth2/token, /oauth2/revoke and /oauth2/introspect.
type Handler struct {
	cfg      Config
	store    Store
	users    UserLookup
	minter   Minter
	verifier AccessVerifier
	limiter  *ratelimit.Limiter
	checker  *secret.Checker
	clients  *clientAuthenticator
	log      *slog.Logger
	now      func() time.Time
	grants   map[string]grantHandler
	observe  func(grantType, outcome string)
}

// Deps are what NewHandler needs.
type Deps struct {
	Config Config
	Store  Store
	// Clients and Users, if set, answer lookups by id instead of Store.
	Clients  ClientLookup
	Users    UserLookup
	Minter   Minter
	Verifier AccessVerifier
	Limiter  *ratelimit.Limiter
	// Checker verifies client secrets and passwords; share one per process
	// so that its bound on checks in flight holds for every endpoint.
	// NewHandler makes one (one check per CPU) when nil.
	Checker *secret.Checker
	Logger  *slog.Logger
	Now     func() time.Time
	// Observe, if set, is told the grant type ("unknown" when the request
	// named none we implement) and the outcome ("ok" or the error code) of
	// every token request, for metrics.
	Observe func(grantType, outcome string)
}

// NewHandler builds the token endpoint and its companions.
func NewHandler(d Deps) (*Handler, error) {
	if d.Clients == nil {
		d.Clients = d.Store
	}
	if d.Users == nil {
		d.Users = d.Store
	}
	if d.Checker == nil {
		checker, err := secret.NewChecker(runtime.GOMAXPROCS(0), nil)
		if err != nil {
			return nil, fmt.Errorf("oauth: %w", err)
		}
		d.Checker = checker
	}
	clients, err := newClientAuthenticator(d.Clients, d.Checker)
	if err != nil {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Config.IDTokenTTL <= 0 {
		d.Config.IDTokenTTL = d.Config.AccessTokenTTL
	}
	if d.Config.MaxBodyBytes <= 0 {
		d.Config.MaxBodyBytes = 64 << 10
	}
	h := &Handler{cfg: d.Config, store: d.Store, users: d.Users, minter: d.Minter, verifier: d.Verifier,
		limiter: d.Limiter, checker: d.Checker, clients: clients, log: d.Logger, now: d.Now, observe: d.Observe}
	h.grants = map[string]grantHandler{
		GrantAuthorizationCode: h.authorizationCodeGrant,
		GrantPassword:          h.passwordGrant,
		GrantRefreshToken:      h.refreshTokenGrant,
		GrantClientCredentials: h.clientCredentialsGrant,
	}
	return h, nil
}

// Register mounts the endpoints on r.
func (h *Handler) Register(r gin.IRouter) {
	r.POST("/oauth2/token", withClientIP(h.Token))
	r.POST("/oauth2/revoke", withClientIP(h.Revoke))
	r.POST("/oauth2/introspect", withClientIP(h.Introspect))
}

// writeError answers with a protocol error body (RFC 6749 §5.2). A
// server_error's cause goes to the log, never to the client.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e.Status >= 500 {
		h.log.ErrorContext(r.Context(), "oauth: request failed", "path", r.URL.Path,
			"request_id", w.Header().Get("X-Request-Id"), "err", e)
	} else if e.cause != nil {
		h.log.DebugContext(r.Context(), "oauth: request refused", "path", r.URL.Path, "err", e)
	}
	withChallenge(w, e)
	writeJSON(w, e.Status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}

// writeJSON writes a response that no cache may keep: token responses must
// not be stored (RFC 6749 §5.1) and neither may errors about them.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
