package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// UserinfoPath is the OIDC UserInfo endpoint.
const UserinfoPath = "/oauth2/userinfo"

// UserinfoStore is what the UserInfo endpoint reads: the user, the deny
// list of revoked access tokens and the per-user/per-client cutoffs.
type UserinfoStore interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	AccessRevocations
}

var _ UserinfoStore = (*storage.Store)(nil)

// Userinfo serves the OIDC UserInfo endpoint (OIDC Core §5.3) as an RFC
// 6750 protected resource.
type Userinfo struct {
	verifier AccessVerifier
	store    UserinfoStore
	realm    string
	log      *slog.Logger
}

// NewUserinfo builds the endpoint. The verifier must accept the access
// tokens this server issues (its audience included).
func NewUserinfo(verifier AccessVerifier, store UserinfoStore, logger *slog.Logger) (*Userinfo, error) {
	if verifier == nil || store == nil {
		return nil, errors.New("oauth: userinfo needs a verifier and a store")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Userinfo{verifier: verifier, store: store, realm: "oauth2d", log: logger}, nil
}

// Register mounts GET and POST /oauth2/userinfo (OIDC Core §5.3.1).
func (u *Userinfo) Register(r gin.IRouter) {
	r.GET(UserinfoPath, gin.WrapF(u.ServeHTTP))
	r.POST(UserinfoPath, gin.WrapF(u.ServeHTTP))
}

// bearerError is an RFC 6750 §3.1 error.
type bearerError struct {
	status int
	code   string // "" when the request carried no token at all (§3.1)
	desc   string
	scope  string
}

var (
	errNoToken       = &bearerError{status: http.StatusUnauthorized}
	errInvalidToken  = &bearerError{http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked", ""}
	errTokenLocation = &bearerError{http.StatusBadRequest, "invalid_request", "the access token must be sent in the Authorization header", ""}
	errNeedOpenID    = &bearerError{http.StatusForbidden, "insufficient_scope", "the access token lacks the openid scope", ScopeOpenID}
	errServer        = &bearerError{http.StatusInternalServerError, "server_error", "the server encountered an unexpected condition", ""}
)

// ServeHTTP answers with the user's claims the token's scope allows: sub
// always, profile and email claims as their scopes say (OIDC Core §5.4).
// The token is taken from the Authorization header only (DESIGN.md §3:
// never from a URL, where it would be logged).
func (u *Userinfo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, be := u.authorize(r)
	if be != nil {
		u.writeError(w, be)
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

func (u *Userinfo) authorize(r *http.Request) (map[string]any, *bearerError) {
	if r.URL.Query().Has("access_token") {
		return nil, errTokenLocation
	}
	raw, found := bearerToken(r)
	if !found {
		return nil, errNoToken
	}
	if r.Method == http.MethodPost && r.ParseForm() == nil && r.PostForm.Has("access_token") {
		return nil, errTokenLocation
	}
	at, err := u.verifier.VerifyAccess(raw)
	if err != nil {
		return nil, errInvalidToken
	}
	ctx := r.Context()
	revoked, err := u.store.IsAccessRevoked(ctx, at.JTI, at.Subject, at.ClientID, at.IssuedAt)
	if err != nil {
		u.log.ErrorContext(ctx, "oauth: userinfo: revocation check", "err", err)
		return nil, errServer
	}
	if revoked {
		return nil, errInvalidToken
	}
	if !slices.Contains(at.Scope, ScopeOpenID) {
		return nil, errNeedOpenID
	}
	// A client-credentials token's subject is a client, not a user, and a
	// deleted user has no claims left: both read as an invalid token.
	user, err := u.store.GetUser(ctx, at.Subject)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errInvalidToken
	}
	if err != nil {
		u.log.ErrorContext(ctx, "oauth: userinfo: load user", "err", err)
		return nil, errServer
	}
	claims := profileClaims(user, at.Scope)
	claims["sub"] = user.ID
	return claims, nil
}

// bearerToken reads "Authorization: Bearer <token>" (RFC 6750 §2.1; the
// scheme is case-insensitive).
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// writeError answers with the WWW-Authenticate challenge of RFC 6750 §3
// and the same error as JSON for clients that read bodies.
func (u *Userinfo) writeError(w http.ResponseWriter, e *bearerError) {
	challenge := `Bearer realm="` + u.realm + `"`
	if e.code != "" {
		challenge += `, error="` + e.code + `", error_description="` + e.desc + `"`
	}
	if e.scope != "" {
		challenge += `, scope="` + e.scope + `"`
	}
	if e.status == http.StatusUnauthorized || e.status == http.StatusForbidden || e.status == http.StatusBadRequest {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	if e.code == "" {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(e.status)
		return
	}
	writeJSON(w, e.status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{e.code, e.desc})
}
