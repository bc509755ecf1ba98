package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/clientkeys"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// GrantStore is what the token, revocation and introspection endpoints
// change and read in the data layer: codes, refresh-token families and the
// access-token deny list; *storage.Store is one.
type GrantStore interface {
	GetCode(ctx context.Context, codeHash string) (*storage.AuthCode, error)
	RedeemCode(ctx context.Context, codeHash string, issue storage.CodeRedemption) (*storage.CodeRedemption, error)
	CreateFamily(ctx context.Context, r storage.NewRefresh) error
	Rotate(ctx context.Context, r storage.Rotation) (*storage.RotationResult, error)
	CheckRefresh(ctx context.Context, familyID, tokenHash string) (*storage.RefreshFamily, error)
	RevokeFamily(ctx context.Context, familyID string) (*storage.RefreshFamily, error)
	RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error
	// IsAccessRevoked tells whether an access token was revoked, by its
	// jti or by a cutoff of its subject or client.
	IsAccessRevoked(ctx context.Context, jti, subject, clientID string, issuedAt time.Time) (bool, error)
	// RememberUserClient remembers that the user signed in to a client
	// that takes logout tokens, through the browser session sid ("" for
	// none), until its session there may have ended.
	RememberUserClient(ctx context.Context, userID, clientID, sid string, until time.Time) error
}

var _ GrantStore = (*storage.Store)(nil)

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
	MintAccess(ctx context.Context, req token.AccessRequest) (string, token.AccessClaims, error)
	MintIDToken(ctx context.Context, c token.IDClaims) (string, error)
	// MintIntrospection signs an introspection answer for the client
	// that asked (RFC 9701).
	MintIntrospection(ctx context.Context, audience string, introspection json.RawMessage) (string, error)
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
	// RefreshGrace be presented again, while its successor is unused, and
	// answered with the very same successor: a client that never got the
	// answer (5xx, timeout, dropped connection) may retry, and two
	// concurrent refreshes both succeed. 0: any reuse revokes the family.
	// The server's default is config.DefaultRefreshGrace.
	RefreshGrace time.Duration
	MaxBodyBytes int64
	// DPoPRequiredForPublic makes every public client send a DPoP proof,
	// as if registered with dpop_bound_access_tokens.
	DPoPRequiredForPublic bool
}

// Handler serves /oauth2/token, /oauth2/revoke and /oauth2/introspect.
type Handler struct {
	cfg       Config
	store     GrantStore
	users     UserLookup
	passwords account.UserByUsername
	minter    Minter
	verifier  AccessVerifier
	limiter   *ratelimit.Limiter
	checker   *secret.Checker
	clients   *clientAuthenticator
	log       *slog.Logger
	now       func() time.Time
	grants    map[string]grantHandler
	observe   func(grantType, outcome string)
	dpop      ProofVerifier // nil: DPoP headers are ignored
	proofs    AddressBudget // public clients' proofs per address; nil: no limit
	resources *Resources
	feed      *RevocationFeed
	devices   storage.DeviceStore // nil: the device code grant is not served
	mfa       SecondFactorPolicy
	// challenges and factors serve the authorization challenge endpoint;
	// nil: it is off.
	challenges ChallengeStore
	factors    SecondFactorChecker
}

// Deps are what NewHandler needs.
type Deps struct {
	Config Config
	Store  GrantStore
	// Clients and Users answer lookups by id: storage.ClientCache and
	// storage.UserCache in production, *storage.Store will do.
	Clients ClientLookup
	Users   UserLookup
	// Passwords finds users by username for the password grant.
	Passwords account.UserByUsername
	Minter    Minter
	Verifier  AccessVerifier
	Limiter   *ratelimit.Limiter
	// Checker verifies client secrets and passwords: the process-wide one,
	// so that its bound on checks in flight holds for every endpoint.
	Checker *secret.Checker
	Logger  *slog.Logger
	Now     func() time.Time
	// Observe, if set, is told the grant type ("unknown" when the request
	// named none we implement) and the outcome ("ok" or the error code) of
	// every token request, for metrics.
	Observe func(grantType, outcome string)
	// DPoP verifies proofs of possession (RFC 9449); nil turns DPoP off.
	DPoP ProofVerifier
	// PublicProofLimiter, if set, bounds per client address the DPoP
	// proofs of public clients at the token endpoint (its PerIP budget,
	// under a key prefix of its own). They authenticate with their id
	// alone, so anyone can send proofs as them, and every proof is
	// recorded against replay before the grant is looked at. nil: no
	// limit, as PusherDeps.PublicLimiter.
	PublicProofLimiter AddressBudget
	// Resources is the registry of resources (RFC 8707) the issuance
	// policy consults; nil: none, and every access token carries the
	// Minter's audience.
	Resources *Resources
	// Feed serves the revocation feed (ServeRevocationFeed); nil: that
	// endpoint answers 404.
	Feed *RevocationFeed
	// Devices holds device authorizations (RFC 8628); nil: the device
	// code grant is unsupported_grant_type.
	Devices storage.DeviceStore
	// Assertions remembers client assertions' jti (private_key_jwt, RFC
	// 7523) across instances; nil turns private_key_jwt off.
	Assertions storage.AssertionReplayStore
	// ClientKeys fetches the JWK Sets of clients registered with a
	// jwks_uri; nil: such clients cannot authenticate.
	ClientKeys *clientkeys.Fetcher
	// MFA says which users must sign in with a second factor: the
	// password grant, which cannot ask for one, refuses them. nil: nobody.
	MFA SecondFactorPolicy
	// Challenges and Factors turn on the authorization challenge endpoint
	// (challenge.go); both nil: it answers 404 and is not advertised.
	Challenges ChallengeStore
	Factors    SecondFactorChecker
}

// NewHandler builds the token endpoint and its companions.
func NewHandler(d Deps) (*Handler, error) {
	if d.Store == nil || d.Clients == nil || d.Users == nil || d.Passwords == nil || d.Minter == nil ||
		d.Verifier == nil || d.Limiter == nil || d.Checker == nil {
		return nil, errors.New("oauth: the token endpoint needs a store, client, user and password lookups, a minter, a verifier, a limiter and a checker")
	}
	clients, err := newClientAuthenticator(d.Clients, d.Checker,
		assertionDeps{issuer: d.Config.Issuer, replay: d.Assertions, keys: d.ClientKeys, now: d.Now})
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
	h := &Handler{cfg: d.Config, store: d.Store, users: d.Users, passwords: d.Passwords, minter: d.Minter, verifier: d.Verifier,
		limiter: d.Limiter, checker: d.Checker, clients: clients, log: d.Logger, now: d.Now, observe: d.Observe, dpop: d.DPoP,
		proofs: d.PublicProofLimiter, resources: d.Resources, feed: d.Feed, devices: d.Devices, mfa: d.MFA}
	if d.Challenges != nil && d.Factors != nil {
		h.challenges, h.factors = d.Challenges, d.Factors
	}
	if h.resources == nil {
		h.resources = &Resources{}
	}
	h.grants = map[string]grantHandler{
		account.GrantAuthorizationCode: h.authorizationCodeGrant,
		account.GrantPassword:          h.passwordGrant,
		account.GrantRefreshToken:      h.refreshTokenGrant,
		account.GrantClientCredentials: h.clientCredentialsGrant,
	}
	if h.devices != nil {
		h.grants[account.GrantDeviceCode] = h.deviceCodeGrant
	}
	return h, nil
}

// writeError answers with a protocol error body (RFC 6749 §5.2). A
// server_error's cause goes to the log, never to the client.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e.Status == http.StatusServiceUnavailable {
		problem.SetRetryAfter(w.Header())
		what := "oauth: storage unavailable"
		if !problem.Unavailable(e) {
			what = "oauth: temporarily unavailable" // a bound of this instance's, such as the feed's waiters
		}
		h.log.WarnContext(r.Context(), what, "path", r.URL.Path,
			"request_id", w.Header().Get("X-Request-Id"), "err", e)
	} else if e.Status >= 500 {
		h.log.ErrorContext(r.Context(), "oauth: request failed", "path", r.URL.Path,
			"request_id", w.Header().Get("X-Request-Id"), "err", e)
	} else if e.cause != nil {
		h.log.DebugContext(r.Context(), "oauth: request refused", "path", r.URL.Path, "err", e)
	}
	withChallenge(w, e)
	if e.retryAfterSeconds != "" {
		w.Header().Set("Retry-After", e.retryAfterSeconds)
	}
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
