package resourceserver

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
)

// The authorization schemes this package accepts.
const (
	schemeBearer = "Bearer"
	schemeDPoP   = "DPoP"
)

// DPoP proof errors a ProofVerifier wraps (RFC 9449 §7.1, §8).
var (
	// ErrInvalidProof: the proof is missing, malformed, for another
	// request or token, too old, or was used before (invalid_dpop_proof).
	ErrInvalidProof = dpop.ErrInvalidProof
	// ErrUseDPoPNonce: the proof lacks the current server nonce
	// (use_dpop_nonce, with a fresh DPoP-Nonce header).
	ErrUseDPoPNonce = dpop.ErrUseNonce
)

// ProofVerifier checks DPoP proofs (RFC 9449 §4.3). NewProofVerifier
// returns one; oauth2d's own API plugs one whose replay records live in
// Redis.
type ProofVerifier interface {
	// VerifyProof checks proof for a request of method to url with the
	// access token whose SHA-256 is accessTokenHash (the proof's ath), and
	// returns the RFC 7638 thumbprint of its key. Errors wrap
	// ErrInvalidProof or ErrUseDPoPNonce; any other error (a replay store
	// that did not answer) is answered 503.
	VerifyProof(ctx context.Context, proof, method, url string, accessTokenHash []byte) (jkt string, err error)
	// Algorithms are the accepted algorithms, named in DPoP challenges.
	Algorithms() []string
	// Nonce is the DPoP-Nonce to send, "" when nonces are off.
	Nonce() string
}

var _ ProofVerifier = (*dpop.Verifier)(nil)

// ReplayStore remembers proof ids so a proof is used once (RFC 9449 §11.1).
// Several instances of one resource must share one (oauth2d uses Redis
// SET NX with a TTL); NewMemoryReplayStore serves a single process.
type ReplayStore interface {
	// RecordProof records id for ttl and reports whether it was new: of
	// any number of concurrent calls with one id, one alone sees true.
	RecordProof(ctx context.Context, id string, ttl time.Duration) (bool, error)
}

// DPoPConfig configures NewProofVerifier.
type DPoPConfig struct {
	// Algorithms are the accepted proof algorithms, all asymmetric
	// (ES256, ES384, PS256, RS256 and EdDSA when empty).
	Algorithms []string
	// MaxAge is how old a proof may be (a minute when 0).
	MaxAge time.Duration
	// Replay records proof ids; a NewMemoryReplayStore of
	// DefaultReplayEntries when nil.
	Replay ReplayStore
	// NonceSecret, when set (32 bytes or more, the same on every
	// instance), makes every proof carry a server nonce (RFC 9449 §9)
	// that changes every NonceLifetime (a minute when 0).
	NonceSecret   []byte
	NonceLifetime time.Duration
	Now           func() time.Time // time.Now when nil
}

// NewProofVerifier returns a ProofVerifier for cfg.
func NewProofVerifier(cfg DPoPConfig) (ProofVerifier, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Replay == nil {
		cfg.Replay = NewMemoryReplayStore(DefaultReplayEntries, cfg.Now)
	}
	var nonces *dpop.Nonces
	if len(cfg.NonceSecret) > 0 {
		if cfg.NonceLifetime == 0 {
			cfg.NonceLifetime = time.Minute
		}
		var err error
		if nonces, err = dpop.NewNonces(cfg.NonceSecret, cfg.NonceLifetime, cfg.Now); err != nil {
			return nil, err
		}
	}
	return dpop.NewVerifier(dpop.Options{Algorithms: cfg.Algorithms, MaxAge: cfg.MaxAge, Nonces: nonces, Replay: cfg.Replay, Now: cfg.Now})
}

// DefaultReplayEntries bounds the default in-memory replay store: a
// minute of proofs at well over a thousand requests a second.
const DefaultReplayEntries = 100_000

// MemoryReplayStore is a ReplayStore for one process, bounded: when full
// of unexpired ids it refuses new proofs (503) rather than forget one
// early and let a replay through.
type MemoryReplayStore struct {
	mu   sync.Mutex
	seen map[string]time.Time // id → when it may be forgotten
	max  int
	now  func() time.Time
}

// NewMemoryReplayStore holds at most maxEntries ids.
func NewMemoryReplayStore(maxEntries int, now func() time.Time) *MemoryReplayStore {
	return &MemoryReplayStore{seen: map[string]time.Time{}, max: max(maxEntries, 1), now: now}
}

// errReplayFull is a full MemoryReplayStore.
var errReplayFull = errors.New("resourceserver: DPoP replay store is full")

// RecordProof implements ReplayStore.
func (m *MemoryReplayStore) RecordProof(_ context.Context, id string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if until, ok := m.seen[id]; ok && now.Before(until) {
		return false, nil
	}
	if len(m.seen) >= m.max {
		for k, until := range m.seen {
			if !now.Before(until) {
				delete(m.seen, k)
			}
		}
		if len(m.seen) >= m.max {
			return false, errReplayFull
		}
	}
	m.seen[id] = now.Add(ttl)
	return true, nil
}

// RFC 9449 §7 failures. A bound token is always answered with a DPoP
// challenge, so that a client that sent it as a bearer token learns which
// scheme to use.
var (
	failProof = newFailure(http.StatusUnauthorized, "invalid_dpop_proof",
		"the DPoP proof is missing, invalid or was used before", true)
	failProofNonce = newFailure(http.StatusUnauthorized, "use_dpop_nonce",
		"the DPoP proof must carry the nonce of the DPoP-Nonce header", true)
	failKeyBinding = newFailure(http.StatusUnauthorized, errInvalidToken,
		"the DPoP proof is not signed by the key the access token is bound to", true)
	failBoundAsBearer = newFailure(http.StatusUnauthorized, errInvalidToken,
		"the access token is DPoP-bound: send it with the DPoP scheme and a proof", true)
	failNotBound = newFailure(http.StatusUnauthorized, errInvalidToken,
		"the access token is not DPoP-bound: send it with the Bearer scheme", true)
	failDPoPRequired = newFailure(http.StatusUnauthorized, errInvalidToken,
		"this resource accepts only DPoP-bound access tokens", true)
)

// checkBinding applies RFC 9449 §7 to a verified token: a bound token
// (cnf.jkt) comes only with the DPoP scheme and a fresh proof by its key
// for this request and this token (ath); a bearer token never comes with
// the DPoP scheme, nor at all when the resource requires DPoP. key is the
// token's SHA-256 (its cache key), which is what ath is checked against.
func (rs *Resource) checkBinding(r *http.Request, key cacheKey, scheme string, claims *Claims) *failure {
	if scheme == schemeBearer {
		switch {
		case claims.JKT != "":
			return failBoundAsBearer
		case rs.requireDPoP:
			return failDPoPRequired
		}
		return nil
	}
	if claims.JKT == "" {
		return failNotBound
	}
	proofJWT, err := dpop.FromHeader(r.Header)
	if err != nil || proofJWT == "" {
		return failProof
	}
	ath := key // a copy here, so that a bearer request does not put key on the heap
	jkt, err := rs.dpop.VerifyProof(r.Context(), proofJWT, r.Method, rs.baseURL+r.URL.EscapedPath(), ath[:])
	switch {
	case errors.Is(err, ErrUseDPoPNonce):
		return failProofNonce
	case errors.Is(err, ErrInvalidProof):
		rs.log.Debug("resourceserver: DPoP proof rejected", "err", err)
		return failProof
	case err != nil:
		rs.log.WarnContext(r.Context(), "resourceserver: DPoP replay check failed", "err", err)
		return failUnavailable
	case jkt != claims.JKT:
		return failKeyBinding
	}
	return nil
}
