package resource

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// maxTokenLen bounds what is hashed and parsed; oauth2d's tokens are well
// under 2 KiB.
const maxTokenLen = 8 << 10

// Verifier checks an access token's signature and claims; *token.Verifier
// is one.
type Verifier interface {
	VerifyAccess(raw string) (*token.AccessClaims, error)
}

var _ Verifier = (*token.Verifier)(nil)

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
	// CacheSize bounds the verified-token cache (DefaultCacheSize when 0;
	// at least 2).
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

// Authenticator authenticates bearer tokens for gin routes. Call Load once
// before serving and run Follow for the server's lifetime: until the
// revocation state is loaded, the middleware answers 503 rather than let a
// revoked token through.
type Authenticator struct {
	verifier Verifier
	feed     RevocationFeed
	cache    *tokenCache
	deny     *denyList
	chal     *challenges
	resync   time.Duration
	log      *slog.Logger
	now      func() time.Time
	started  atomic.Bool
	ready    atomic.Bool
	loop     func(context.Context) // set by Load, run by Follow
	dpop     ProofVerifier         // nil: no DPoP
	baseURL  string                // htu = baseURL + escaped path
}

// NewAuthenticator returns an Authenticator verifying with verifier and
// learning revocations from feed.
func NewAuthenticator(verifier Verifier, feed RevocationFeed, opts Options) (*Authenticator, error) {
	if verifier == nil || feed == nil || opts.Realm == "" {
		return nil, errors.New("resource: authenticator needs a verifier, a revocation feed and a realm")
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
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
	if opts.PublicURL == "" {
		opts.PublicURL = opts.Realm
	}
	var algs []string
	var nonce func() string
	if opts.DPoP != nil {
		algs, nonce = opts.DPoP.Algorithms(), opts.DPoP.Nonce
	}
	return &Authenticator{
		verifier: verifier, feed: feed, cache: newTokenCache(opts.CacheSize), deny: newDenyList(),
		chal: newChallenges(opts.Realm, algs, nonce), resync: opts.ResyncInterval, log: opts.Logger, now: opts.Now,
		dpop: opts.DPoP, baseURL: strings.TrimSuffix(opts.PublicURL, "/"),
	}, nil
}

type claimsKey struct{}

// ClaimsFrom returns the verified claims RequireScopes stored for this
// request. They are shared with other requests bearing the same token:
// treat them as read-only.
func ClaimsFrom(c *gin.Context) (*token.AccessClaims, bool) {
	v, ok := c.Get(claimsKey{})
	if !ok {
		return nil, false
	}
	claims, ok := v.(*token.AccessClaims)
	return claims, ok
}

// WithClaims stores claims as the middleware does, for tests and
// benchmarks of handlers without a token.
func WithClaims(c *gin.Context, claims *token.AccessClaims) { c.Set(claimsKey{}, claims) }

// RequireScopes returns middleware that lets a request through only with
// a valid, unrevoked bearer token granted every one of scopes (none: any
// valid token). It stores the claims for ClaimsFrom; a second
// RequireScopes on the same route reuses them and checks only its scopes.
// Revocation is checked against this instance's in-memory copy, which
// pub/sub keeps within about a second of Redis.
func (a *Authenticator) RequireScopes(scopes ...string) gin.HandlerFunc {
	return a.require(false, scopes)
}

// RequireScopesNow is RequireScopes that also asks Redis whether the token
// was revoked, so that a revocation written on any instance holds from the
// moment it is stored, at the price of one round trip per request. The
// UserInfo endpoint uses it: relying parties call it to learn whether a
// sign-in still stands.
func (a *Authenticator) RequireScopesNow(scopes ...string) gin.HandlerFunc {
	return a.require(true, scopes)
}

func (a *Authenticator) require(now bool, scopes []string) gin.HandlerFunc {
	scopes = slices.Clone(scopes)
	insufficient := &failure{status: http.StatusForbidden, code: errInsufficientScope,
		desc: "the access token lacks a scope this request requires"}
	header := a.chal.render(insufficient, strings.Join(scopes, " "))
	headerDPoP := a.chal.renderScheme(schemeDPoP, insufficient, strings.Join(scopes, " "))
	return func(c *gin.Context) {
		claims, ok := ClaimsFrom(c)
		if !ok {
			a.markScheme(c)
			var f *failure
			if claims, f = a.authenticate(c.Request); f == nil && now {
				f = a.checkStored(c.Request.Context(), claims)
			}
			if f != nil {
				a.chal.abort(c, f, "")
				return
			}
			WithClaims(c, claims)
		}
		for _, s := range scopes {
			if !slices.Contains(claims.Scope, s) {
				if usedDPoP(c) {
					a.chal.abort(c, insufficient, headerDPoP)
				} else {
					a.chal.abort(c, insufficient, header)
				}
				return
			}
		}
		c.Next()
	}
}

// checkStored asks Redis whether the token was revoked by jti or cutoff.
func (a *Authenticator) checkStored(ctx context.Context, claims *token.AccessClaims) *failure {
	revoked, err := a.feed.IsAccessRevoked(ctx, claims.JTI, claims.Subject, claims.ClientID, claims.IssuedAt)
	switch {
	case problem.Unavailable(err):
		a.log.WarnContext(ctx, "resource: revocation check: storage unavailable", "err", err)
		return failUnavailable
	case err != nil:
		a.log.ErrorContext(ctx, "resource: revocation check", "err", err)
		return failServer
	case revoked:
		return failRevoked
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
	f := failServer
	switch reason {
	case UnknownUser:
		f = failUnknownUser
	case Unavailable:
		f = failUnavailable
	}
	a.chal.abort(c, f, "")
}

// Authenticate checks the request's bearer token and returns its claims,
// or the failure to answer with.
func (a *Authenticator) authenticate(r *http.Request) (*token.AccessClaims, *failure) {
	if !a.ready.Load() {
		return nil, failNotReady
	}
	if f := tokenOutsideHeader(r); f != nil {
		return nil, f
	}
	raw, scheme, f := a.accessToken(r.Header)
	if f != nil {
		return nil, f
	}
	now := a.now()
	key := hashToken(raw)
	claims := a.cache.get(key, now)
	if claims == nil {
		if !isB64Token(raw) {
			return nil, failInvalid
		}
		var err error
		if claims, err = a.verifier.VerifyAccess(raw); err != nil {
			a.log.DebugContext(r.Context(), "resource: token rejected", "err", err)
			return nil, failInvalid
		}
		// exp by this middleware's clock, which the deny list and the
		// cache also go by (the verifier is strict on exp too, by its
		// own): the deny list forgets a jti once its token has expired.
		if !now.Before(claims.ExpiresAt) {
			return nil, failInvalid
		}
		a.cache.put(key, claims)
	}
	if a.deny.revoked(claims) {
		return nil, failRevoked
	}
	if f := a.checkBinding(r, key, scheme, claims); f != nil {
		return nil, f
	}
	return claims, nil
}

// accessToken extracts the token of an `Authorization: Bearer` header
// (RFC 6750 §2.1), or of an `Authorization: DPoP` one (RFC 9449 §7.1)
// when DPoP is on, and says which scheme it came with. Another scheme, or
// no header, is no credentials.
func (a *Authenticator) accessToken(h http.Header) (string, string, *failure) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", "", failNoToken
	case 1:
	default:
		return "", "", failMalformed
	}
	scheme, rest, _ := strings.Cut(values[0], " ")
	switch {
	case strings.EqualFold(scheme, schemeBearer):
		scheme = schemeBearer
	case a.dpop != nil && strings.EqualFold(scheme, schemeDPoP):
		scheme = schemeDPoP
	default:
		return "", "", failNoToken
	}
	raw := strings.TrimLeft(rest, " ")
	if raw == "" {
		return "", "", failMalformed
	}
	if len(raw) > maxTokenLen {
		return "", "", failInvalid
	}
	return raw, scheme, nil
}

// hashToken is the cache key of a token. Hashing from a stack buffer
// spares the heap allocation of []byte(raw) on every request; the syntax
// of the token is checked only on a cache miss, since a cached token has
// passed verification.
func hashToken(raw string) cacheKey {
	var buf [2048]byte
	if len(raw) <= len(buf) {
		n := copy(buf[:], raw)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(raw))
}

// isB64Token checks RFC 6750 §2.1's b64token syntax.
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// tokenOutsideHeader reports an access_token in the query string (RFC 6750
// §2.3) or in a form body (§2.2), both refused. Only form bodies are
// parsed; the API's JSON bodies are left for the handlers.
func tokenOutsideHeader(r *http.Request) *failure {
	if strings.Contains(r.URL.RawQuery, "access_token") {
		if q, err := url.ParseQuery(r.URL.RawQuery); err != nil || q.Has("access_token") {
			return failQuery
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/x-www-form-urlencoded") {
		return nil
	}
	if err := r.ParseForm(); err != nil {
		return failMalformed // unreadable: refuse rather than guess
	}
	if r.PostForm.Has("access_token") {
		return failQuery
	}
	return nil
}

// Ping reports whether the revocation state is loaded (readiness): until
// it is, every protected request is answered 503.
func (a *Authenticator) Ping(context.Context) error {
	if !a.ready.Load() {
		return errors.New("resource: revocation list not loaded")
	}
	return nil
}

// DenyJTI applies a revocation made on this instance at once, before
// pub/sub brings it back (account.LocalRevocations).
func (a *Authenticator) DenyJTI(jti string, expiresAt time.Time) { a.deny.addJTI(jti, expiresAt) }

// AddCutoff applies a cutoff made on this instance at once
// (account.LocalRevocations).
func (a *Authenticator) AddCutoff(c storage.Cutoff) { a.deny.addCutoff(c) }
