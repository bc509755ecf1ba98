package resource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/resourceserver"
	"github.com/oauth2d/oauth2d/resourceserver/ginrs"
)

// Verifier checks an access token's signature and claims; *token.Verifier
// is one.
type Verifier = resourceserver.Verifier

var _ Verifier = (*token.Verifier)(nil)

// ProofVerifier checks DPoP proofs; *dpop.Verifier is one.
type ProofVerifier = resourceserver.ProofVerifier

// RevocationFeed is where the revocation state comes from; *storage.Store
// is one. IsAccessRevoked answers RequireScopesNow.
type RevocationFeed interface {
	IsAccessRevoked(ctx context.Context, jti, subject, clientID string, issuedAt time.Time) (bool, error)
	RevokedJTIs(ctx context.Context) (map[string]time.Time, error)
	SubscribeRevocations(ctx context.Context, onReconnect func()) (<-chan storage.RevokedJTI, error)
	Cutoffs(ctx context.Context) (map[string]storage.Cutoff, error)
	SubscribeCutoffs(ctx context.Context, onReconnect func()) (<-chan storage.Cutoff, error)
}

var _ RevocationFeed = (*storage.Store)(nil)

// Options configure an Authenticator.
type Options struct {
	// Realm is the realm of every challenge: the issuer URL. Required.
	Realm string
	// CacheSize bounds the verified-token cache
	// (resourceserver.DefaultCacheSize when 0; at least 2).
	CacheSize int
	// ResyncInterval is how often the whole revocation state is reloaded
	// besides pub/sub, as a safety net (DefaultResyncInterval when 0).
	ResyncInterval time.Duration
	Logger         *slog.Logger     // discards when nil
	Now            func() time.Time // time.Now when nil
	// DPoP, when set, accepts DPoP-bound tokens (RFC 9449 §7) with the
	// "DPoP" scheme and a proof, and refuses them as bearer tokens. Nil:
	// the DPoP scheme is unknown, as before.
	DPoP ProofVerifier
	// PublicURL is the base URL clients address, the htu of a proof being
	// PublicURL + path; Realm when empty.
	PublicURL string
}

// DefaultResyncInterval is the periodic full reload of the revocation
// state; pub/sub and the resync after a reconnect do the real work.
const DefaultResyncInterval = time.Minute

// Authenticator is the built-in routes' resourceserver.Resource, fed from
// Redis, with gin glue. Call Load once before serving and run Follow for
// the server's lifetime: until the revocation state is loaded, the
// middleware answers 503 rather than let a revoked token through.
type Authenticator struct {
	rs      *resourceserver.Resource
	feed    RevocationFeed
	deny    *resourceserver.RevocationList
	resync  time.Duration
	log     *slog.Logger
	now     func() time.Time
	started atomic.Bool
	ready   atomic.Bool
	loop    func(context.Context) // set by Load, run by Follow
}

// NewAuthenticator returns an Authenticator verifying with verifier and
// learning revocations from feed.
func NewAuthenticator(verifier Verifier, feed RevocationFeed, opts Options) (*Authenticator, error) {
	if verifier == nil || feed == nil || opts.Realm == "" {
		return nil, errors.New("resource: authenticator needs a verifier, a revocation feed and a realm")
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Authenticator{feed: feed, deny: resourceserver.NewRevocationList(), resync: opts.ResyncInterval,
		log: opts.Logger, now: opts.Now}
	rs, err := resourceserver.New(resourceserver.Config{
		Realm: opts.Realm, Verifier: verifier, Revocations: (*loadedState)(a), DPoP: opts.DPoP,
		PublicURL: opts.PublicURL, CacheSize: opts.CacheSize, Logger: opts.Logger, Now: opts.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	a.rs = rs
	return a, nil
}

// loadedState is the Authenticator as the Resource's Revocations: the
// Redis-fed list, refused (503) until it is loaded.
type loadedState Authenticator

var errNotLoaded = errors.New("resource: revocation list not loaded")

func (s *loadedState) Revoked(c *resourceserver.Claims) (bool, error) {
	if !s.ready.Load() {
		return false, errNotLoaded
	}
	return s.deny.Revoked(c), nil
}

// Resource is the resourceserver.Resource the Authenticator runs.
func (a *Authenticator) Resource() *resourceserver.Resource { return a.rs }

// ClaimsFrom returns the verified claims RequireScopes stored for this
// request. They are shared with other requests bearing the same token:
// treat them as read-only.
func ClaimsFrom(c *gin.Context) (*token.AccessClaims, bool) { return ginrs.ClaimsFrom(c) }

// WithClaims stores claims as the middleware does, for tests and
// benchmarks of handlers without a token.
func WithClaims(c *gin.Context, claims *token.AccessClaims) {
	c.Request = c.Request.WithContext(resourceserver.ContextWithClaims(c.Request.Context(), claims))
}

// RequireScopes returns middleware that lets a request through only with
// a valid, unrevoked bearer token granted every one of scopes (none: any
// valid token). It stores the claims for ClaimsFrom; a second
// RequireScopes on the same route reuses them and checks only its scopes.
// Revocation is checked against this instance's in-memory copy, which
// pub/sub keeps within about a second of Redis.
func (a *Authenticator) RequireScopes(scopes ...string) gin.HandlerFunc {
	return ginrs.Require(a.rs, resourceserver.Scopes(scopes...))
}

// RequireScopesNow is RequireScopes that also asks Redis whether the token
// was revoked, so that a revocation written on any instance holds from the
// moment it is stored, at the price of one round trip per request. The
// UserInfo endpoint uses it: relying parties call it to learn whether a
// sign-in still stands.
func (a *Authenticator) RequireScopesNow(scopes ...string) gin.HandlerFunc {
	return ginrs.Require(a.rs, resourceserver.Scopes(scopes...), resourceserver.Check(a.checkStored))
}

// RequireUserACR asks a user's token for one of the authentication
// context classes acr (RFC 9470 step-up): otherwise 401
// insufficient_user_authentication with acr_values. A client's own token
// (client credentials: sub is the client id) has no user to step up and
// passes. It runs after RequireScopes, which stored the claims.
func (a *Authenticator) RequireUserACR(acr ...string) gin.HandlerFunc {
	authorize := ginrs.Authorize(a.rs.Policy(resourceserver.ACR(acr...)))
	return func(c *gin.Context) {
		if claims, ok := ClaimsFrom(c); ok && claims.Subject == claims.ClientID {
			c.Next()
			return
		}
		authorize(c)
	}
}

// checkStored asks Redis whether the token was revoked by jti or cutoff.
func (a *Authenticator) checkStored(ctx context.Context, claims *resourceserver.Claims) error {
	revoked, err := a.feed.IsAccessRevoked(ctx, claims.JTI, claims.Subject, claims.ClientID, claims.IssuedAt)
	switch {
	case problem.Unavailable(err):
		a.log.WarnContext(ctx, "resource: revocation check: storage unavailable", "err", err)
		return resourceserver.ErrUnavailable
	case err != nil:
		return fmt.Errorf("resource: revocation check: %w", err)
	case revoked:
		return resourceserver.ErrRevoked
	}
	return nil
}

// Reason is why a handler behind the middleware refuses a token that the
// middleware let through.
type Reason int

const (
	// UnknownUser: the token's user no longer exists (401 invalid_token).
	UnknownUser Reason = iota
	// ServerError: the handler could not look the token's user up (500).
	ServerError
	// Unavailable: the storage did not answer in time (503, Retry-After).
	Unavailable
)

// ReasonFor is the Reason to reject with when looking the token's user up
// failed with err (not ErrNotFound): Unavailable for a storage outage.
func ReasonFor(err error) Reason {
	if problem.Unavailable(err) {
		return Unavailable
	}
	return ServerError
}

// Reject answers as the middleware would for reason, so that every
// protected route has the one RFC 6750 error shape.
func (a *Authenticator) Reject(c *gin.Context, reason Reason) {
	err := errors.New("resource: server error")
	switch reason {
	case UnknownUser:
		err = resourceserver.ErrUnknownSubject
	case Unavailable:
		err = resourceserver.ErrUnavailable
	}
	ginrs.Reject(c, a.rs, err)
}

// Ping reports whether the revocation state is loaded (readiness): until
// it is, every protected request is answered 503.
func (a *Authenticator) Ping(context.Context) error {
	if !a.ready.Load() {
		return errNotLoaded
	}
	return nil
}

// DenyJTI applies a revocation made on this instance at once, before
// pub/sub brings it back (account.LocalRevocations).
func (a *Authenticator) DenyJTI(jti string, expiresAt time.Time) { a.deny.DenyJTI(jti, expiresAt) }

// AddCutoff applies a cutoff made on this instance at once
// (account.LocalRevocations).
func (a *Authenticator) AddCutoff(c storage.Cutoff) { a.deny.AddCutoff(publicCutoff(c)) }

// publicCutoff is c as the resourceserver package names it: storage's
// principals are "<kind>:<id>" with the feed's kinds.
func publicCutoff(c storage.Cutoff) resourceserver.Cutoff {
	kind, id, _ := strings.Cut(c.Principal, ":")
	return resourceserver.Cutoff{Kind: kind, ID: id, NotBefore: c.NotBefore, Until: c.Until}
}
