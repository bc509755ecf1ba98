package resourceserver

import (
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxTokenLen bounds what is hashed and parsed; oauth2d's tokens are well
// under 2 KiB.
const maxTokenLen = 8 << 10

// Errors callers branch on with errors.Is, and hand to Resource.Reject.
var (
	// ErrInvalidToken wraps every reason a Verifier refuses a token
	// (401 invalid_token).
	ErrInvalidToken = errors.New("resourceserver: invalid token")
	// ErrRevoked: the token was revoked (401 invalid_token).
	ErrRevoked = errors.New("resourceserver: token revoked")
	// ErrUnknownSubject: the token's user no longer exists (401
	// invalid_token); for handlers that look the user up.
	ErrUnknownSubject = errors.New("resourceserver: the token's subject no longer exists")
	// ErrUnavailable: a store the decision needs did not answer, or the
	// revocation state is not current (503 with Retry-After).
	ErrUnavailable = errors.New("resourceserver: temporarily unavailable")
)

// Revocations answers whether a verified token was revoked. The
// FeedFollower is one; oauth2d's own API uses a copy kept current over
// Redis pub/sub. An error means the state is not known well enough to
// decide (not loaded yet, or stale): the request is answered 503, never
// let through.
type Revocations interface {
	Revoked(c *Claims) (bool, error)
}

// Config configures a Resource.
type Config struct {
	// Realm is the realm of every challenge, usually the issuer URL.
	// Required.
	Realm string
	// Verifier checks tokens. Required: a JWKSVerifier for a resource
	// server outside oauth2d.
	Verifier Verifier
	// Revocations, when set, is consulted on every request, cached token
	// or not. Nil: tokens stand until they expire.
	Revocations Revocations
	// DPoP, when set, accepts DPoP-bound tokens (RFC 9449 §7) with the
	// "DPoP" scheme and a proof, and refuses them as bearer tokens. Nil:
	// the DPoP scheme is unknown, and bound tokens are still refused.
	DPoP ProofVerifier
	// RequireDPoP refuses bearer tokens: every token must be DPoP-bound.
	// Needs DPoP.
	RequireDPoP bool
	// PublicURL is the base URL clients address, the htu of a proof being
	// PublicURL + path; Realm when empty.
	PublicURL string
	// ResourceMetadataURL, when set, is named in every 401 challenge as
	// resource_metadata (RFC 9728 §5.1), so a client can discover which
	// authorization server to ask.
	ResourceMetadataURL string
	// CacheSize bounds the verified-token cache (DefaultCacheSize when 0;
	// at least 2).
	CacheSize int
	Logger    *slog.Logger     // discards when nil
	Now       func() time.Time // time.Now when nil
}

// Resource authenticates requests to one protected resource: it
// verifies the access token (cached by its hash, so a signature is
// checked once per process), checks revocation and DPoP binding on every
// request, and answers failures with RFC 6750 / RFC 9449 challenges. It
// is safe for concurrent use.
type Resource struct {
	verifier    Verifier
	revocations Revocations
	cache       *tokenCache
	chal        *challenges
	log         *slog.Logger
	now         func() time.Time
	dpop        ProofVerifier // nil: no DPoP
	requireDPoP bool
	baseURL     string // htu = baseURL + escaped path
}

// New returns a Resource for cfg.
func New(cfg Config) (*Resource, error) {
	if cfg.Verifier == nil || cfg.Realm == "" {
		return nil, errors.New("resourceserver: a resource needs a verifier and a realm")
	}
	if cfg.RequireDPoP && cfg.DPoP == nil {
		return nil, errors.New("resourceserver: RequireDPoP needs a DPoP proof verifier")
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.Realm
	}
	var algs []string
	var nonce func() string
	if cfg.DPoP != nil {
		algs, nonce = cfg.DPoP.Algorithms(), cfg.DPoP.Nonce
	}
	return &Resource{
		verifier: cfg.Verifier, revocations: cfg.Revocations, cache: newTokenCache(cfg.CacheSize),
		chal: newChallenges(cfg.Realm, cfg.ResourceMetadataURL, algs, nonce, cfg.RequireDPoP),
		log:  cfg.Logger, now: cfg.Now, dpop: cfg.DPoP, requireDPoP: cfg.RequireDPoP,
		baseURL: strings.TrimSuffix(cfg.PublicURL, "/"),
	}, nil
}

// Require returns net/http middleware that lets a request through only
// with a valid, unrevoked access token meeting every requirement, and
// stores its claims for ClaimsFromContext. A second Require of the same
// Resource on the route reuses the claims and checks only its own
// requirements.
func (rs *Resource) Require(reqs ...Requirement) func(http.Handler) http.Handler {
	return rs.Policy(reqs...).Middleware
}

// Reject answers as the middleware would for err (ErrRevoked,
// ErrUnknownSubject, ErrInvalidToken, ErrUnavailable; anything else is
// 500), so that a handler refusing a token the middleware let through
// gives the one RFC 6750 error shape.
func (rs *Resource) Reject(w http.ResponseWriter, r *http.Request, err error) {
	rs.chal.write(w, failureFor(err), rs.usedDPoP(r), "")
}

func failureFor(err error) *failure {
	switch {
	case errors.Is(err, ErrRevoked):
		return failRevoked
	case errors.Is(err, ErrUnknownSubject):
		return failUnknownUser
	case errors.Is(err, ErrInvalidToken):
		return failInvalid
	case errors.Is(err, ErrUnavailable):
		return failUnavailable
	}
	return failServer
}

// authenticate checks the request's access token and returns its claims,
// or the failure to answer with.
func (rs *Resource) authenticate(r *http.Request) (*Claims, *failure) {
	if f := tokenOutsideHeader(r); f != nil {
		return nil, f
	}
	raw, scheme, f := rs.accessToken(r.Header)
	if f != nil {
		return nil, f
	}
	now := rs.now()
	key := hashToken(raw)
	claims := rs.cache.get(key, now)
	if claims == nil {
		if !isB64Token(raw) {
			return nil, failInvalid
		}
		var err error
		if claims, err = rs.verifier.VerifyAccess(raw); err != nil {
			rs.log.Debug("resourceserver: token rejected", "err", err)
			return nil, failInvalid
		}
		// exp by this middleware's clock, which the revocation state and
		// the cache also go by (the verifier is strict on exp too, by its
		// own): a revocation is forgotten once its token has expired.
		if !now.Before(claims.ExpiresAt) {
			return nil, failInvalid
		}
		rs.cache.put(key, claims)
	}
	if rs.revocations != nil {
		revoked, err := rs.revocations.Revoked(claims)
		if err != nil {
			rs.log.Debug("resourceserver: revocation state unusable", "err", err)
			return nil, failNotReady
		}
		if revoked {
			return nil, failRevoked
		}
	}
	if f := rs.checkBinding(r, key, scheme, claims); f != nil {
		return nil, f
	}
	return claims, nil
}

// accessToken extracts the token of an `Authorization: Bearer` header
// (RFC 6750 §2.1), or of an `Authorization: DPoP` one (RFC 9449 §7.1)
// when DPoP is on, and says which scheme it came with. Another scheme, or
// no header, is no credentials.
func (rs *Resource) accessToken(h http.Header) (string, string, *failure) {
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
	case rs.dpop != nil && strings.EqualFold(scheme, schemeDPoP):
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
// §2.3) or in a form body (§2.2), both refused rather than ignored, so a
// client that leaks tokens into URLs finds out at once. Only form bodies
// are parsed; other bodies are left for the handlers.
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

// usedDPoP reports whether the request uses the DPoP scheme, so that
// every answer to it is a DPoP challenge.
func (rs *Resource) usedDPoP(r *http.Request) bool {
	if rs.dpop == nil {
		return false
	}
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, schemeDPoP)
}
