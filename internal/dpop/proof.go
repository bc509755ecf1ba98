package dpop

import (
	"context"
	"crypto"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// HeaderName is the request header a proof travels in, and NonceHeader
// the response header a server nonce travels in.
const (
	HeaderName  = "DPoP"
	NonceHeader = "DPoP-Nonce"
)

// Limits on what a client controls.
const (
	// MaxProofBytes bounds a proof before anything is decoded; an RSA-4096
	// key and every claim fit in well under 4 KiB.
	MaxProofBytes = 8 << 10
	// MaxJTIBytes bounds the proof id (RFC 9449 §4.2 asks for 96 random
	// bits, which is 16 base64url characters).
	MaxJTIBytes = 256
)

// Defaults of Options.
const (
	DefaultMaxAge    = time.Minute
	DefaultClockSkew = 5 * time.Second
)

// DefaultAlgorithms are the proof algorithms accepted unless configured
// otherwise: what browsers (WebCrypto) and the common client libraries
// sign with.
var DefaultAlgorithms = []string{"ES256", "ES384", "PS256", "RS256", "EdDSA"}

// asymmetric lists every algorithm Options.Algorithms may name: RFC 9449
// §4.2 forbids none and the MAC algorithms.
var asymmetric = map[string]jose.SignatureAlgorithm{
	"ES256": jose.ES256, "ES384": jose.ES384, "ES512": jose.ES512,
	"RS256": jose.RS256, "RS384": jose.RS384, "RS512": jose.RS512,
	"PS256": jose.PS256, "PS384": jose.PS384, "PS512": jose.PS512,
	"EdDSA": jose.EdDSA,
}

// ErrInvalidProof wraps every reason a proof is refused (RFC 9449
// invalid_dpop_proof); the wrapped reason is for logs, not responses.
var ErrInvalidProof = errors.New("dpop: invalid proof")

// ErrUseNonce: the proof lacks the server's current nonce (RFC 9449 §8:
// answer use_dpop_nonce with a fresh DPoP-Nonce header).
var ErrUseNonce = errors.New("dpop: a fresh server nonce is required")

// ReplayGuard remembers proofs across every instance; storage.Store is one.
type ReplayGuard interface {
	// RecordProof records id for ttl and reports whether it was new: of
	// any number of concurrent calls with one id, one alone sees true.
	RecordProof(ctx context.Context, id string, ttl time.Duration) (bool, error)
}

// Options configure a Verifier.
type Options struct {
	// Algorithms are the accepted proof algorithms, all asymmetric
	// (DefaultAlgorithms when empty).
	Algorithms []string
	// MaxAge is how old a proof's iat may be (DefaultMaxAge when 0), and
	// ClockSkew how far in the future (DefaultClockSkew when 0). A jti is
	// remembered until its proof is too old, so the replay records live
	// at most MaxAge+ClockSkew.
	MaxAge    time.Duration
	ClockSkew time.Duration
	// Nonces, when set, makes every proof carry a nonce it made (RFC 9449
	// §8); nil asks for none.
	Nonces *Nonces
	// Replay records proof ids. Required.
	Replay ReplayGuard
	Now    func() time.Time // time.Now when nil
}

// Verifier checks proofs. It is safe for concurrent use.
type Verifier struct {
	algs      []jose.SignatureAlgorithm
	names     []string
	maxAge    time.Duration
	skew      time.Duration
	nonces    *Nonces
	replay    ReplayGuard
	now       func() time.Time
	forbidden []string // private JWK members
}

// NewVerifier returns a Verifier for opts.
func NewVerifier(opts Options) (*Verifier, error) {
	if opts.Replay == nil {
		return nil, errors.New("dpop: a verifier needs a replay guard")
	}
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = DefaultAlgorithms
	}
	v := &Verifier{maxAge: opts.MaxAge, skew: opts.ClockSkew, nonces: opts.Nonces, replay: opts.Replay, now: opts.Now,
		forbidden: []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}}
	for _, name := range opts.Algorithms {
		alg, ok := asymmetric[name]
		if !ok {
			return nil, fmt.Errorf("dpop: algorithm %q is not an asymmetric JWS algorithm", name)
		}
		if !slices.Contains(v.names, name) {
			v.algs, v.names = append(v.algs, alg), append(v.names, name)
		}
	}
	if v.maxAge <= 0 {
		v.maxAge = DefaultMaxAge
	}
	if v.skew <= 0 {
		v.skew = DefaultClockSkew
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Algorithms lists the accepted algorithms, for discovery
// (dpop_signing_alg_values_supported) and for the algs of a challenge.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.names) }

// Nonce is the nonce to send in a DPoP-Nonce header, "" when nonces are
// off.
func (v *Verifier) Nonce() string {
	if v.nonces == nil {
		return ""
	}
	return v.nonces.Current()
}

// Request is what a proof must match.
type Request struct {
	Method string
	// URL is the absolute URL the client addressed: the server's public
	// base URL (its issuer) and the request path. Query and fragment are
	// ignored.
	URL string
	// AccessTokenHash is the SHA-256 of the access token presented with
	// the proof at a protected resource: the proof's ath must be its
	// base64url. The caller passes the hash, not the token, because it has
	// usually hashed the token already (the resource middleware's cache
	// key). Nil at the token endpoint, where no ath is checked.
	AccessTokenHash []byte
}

// Proof is an accepted proof.
type Proof struct {
	// Thumbprint is the RFC 7638 SHA-256 thumbprint of the proof's key,
	// base64url: the cnf.jkt of a token bound to it.
	Thumbprint string
	ID         string // jti
	IssuedAt   time.Time
}

// FromHeader returns the one DPoP header of h: "" without one, and
// ErrInvalidProof if there are several (RFC 9449 §4.3, step 1).
func FromHeader(h http.Header) (string, error) {
	values := h.Values(HeaderName)
	switch len(values) {
	case 0:
		return "", nil
	case 1:
		if values[0] == "" {
			return "", fmt.Errorf("%w: empty DPoP header", ErrInvalidProof)
		}
		return values[0], nil
	}
	return "", fmt.Errorf("%w: more than one DPoP header", ErrInvalidProof)
}

// Verify runs every check of RFC 9449 §4.3 on raw for req and records its
// jti. It returns ErrInvalidProof or ErrUseNonce (wrapped) for a proof to
// refuse, and any other error when the replay guard could not answer.
func (v *Verifier) Verify(ctx context.Context, raw string, req Request) (*Proof, error) {
	p, err := v.check(raw, req)
	if err != nil {
		return nil, err
	}
	// The jti is spent only by a proof that passed every other check, and
	// remembered exactly until the proof would be too old anyway.
	ttl := p.IssuedAt.Add(v.maxAge).Sub(v.now())
	if ttl < time.Second {
		ttl = time.Second
	}
	first, err := v.replay.RecordProof(ctx, p.Thumbprint+" "+p.ID, ttl)
	if err != nil {
		return nil, fmt.Errorf("dpop: replay check: %w", err)
	}
	if !first {
		return nil, fmt.Errorf("%w: jti already used", ErrInvalidProof)
	}
	return &p.Proof, nil
}

// parsed is a proof whose signature is good.
type parsed struct {
	Proof
	htm, htu, ath, nonce string
}

// claims is a proof's payload.
type claims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"` // not json.Number, which also takes a string holding a number
	ATH   *string         `json:"ath"`
	Nonce *string         `json:"nonce"`
}

func (v *Verifier) check(raw string, req Request) (*parsed, error) {
	p, err := v.parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProof, err)
	}
	if p.htm != req.Method {
		return nil, fmt.Errorf("%w: htm %q is not %s", ErrInvalidProof, p.htm, req.Method)
	}
	got, err := NormalizeHTU(p.htu)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProof, err)
	}
	want, err := NormalizeHTU(req.URL)
	if err != nil || got != want {
		return nil, fmt.Errorf("%w: htu %q does not name this request", ErrInvalidProof, p.htu)
	}
	now := v.now()
	if p.IssuedAt.Before(now.Add(-v.maxAge)) || p.IssuedAt.After(now.Add(v.skew)) {
		return nil, fmt.Errorf("%w: iat outside the accepted window", ErrInvalidProof)
	}
	if req.AccessTokenHash != nil {
		want := base64.RawURLEncoding.EncodeToString(req.AccessTokenHash)
		if subtle.ConstantTimeCompare([]byte(p.ath), []byte(want)) != 1 {
			return nil, fmt.Errorf("%w: ath is not the access token's hash", ErrInvalidProof)
		}
	}
	if v.nonces != nil && !v.nonces.Valid(p.nonce) {
		return nil, ErrUseNonce
	}
	return p, nil
}

// parse decodes raw and checks what needs no request: the header, the
// key, the signature and the presence and types of the claims.
func (v *Verifier) parse(raw string) (*parsed, error) {
	if len(raw) > MaxProofBytes {
		return nil, errors.New("proof too large")
	}
	if strings.Count(raw, ".") != 2 {
		return nil, errors.New("not a compact JWS")
	}
	if err := v.checkHeader(raw[:strings.IndexByte(raw, '.')]); err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		return nil, err
	}
	h := jws.Signatures[0].Header
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "dpop+jwt") {
		return nil, fmt.Errorf("typ %q is not dpop+jwt", typ)
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.IsPublic() || !jwk.Valid() {
		return nil, errors.New("no public jwk in the header")
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, err
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	if c.JTI == "" || len(c.JTI) > MaxJTIBytes || c.HTM == "" || c.HTU == "" || len(c.IAT) == 0 {
		return nil, errors.New("jti, htm, htu or iat missing or too long")
	}
	// iat is a NumericDate: a JSON number, never a string. Of the JSON
	// values a RawMessage can hold, only a number parses as a float.
	iat, err := strconv.ParseFloat(string(c.IAT), 64)
	if err != nil || math.IsNaN(iat) || iat < 0 || iat > 1<<40 {
		return nil, errors.New("iat is not a number of seconds")
	}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	p := &parsed{Proof: Proof{
		Thumbprint: base64.RawURLEncoding.EncodeToString(sum), ID: c.JTI,
		IssuedAt: time.Unix(int64(iat), 0).UTC(),
	}, htm: c.HTM, htu: c.HTU}
	if c.ATH != nil {
		p.ath = *c.ATH
	}
	if c.Nonce != nil {
		p.nonce = *c.Nonce
	}
	return p, nil
}

// checkHeader refuses a jwk with any private member before go-jose reads
// it. go-jose v4 refuses an embedded jwk with k, d, p, q, dp, dq or qi as
// well, but not one with oth (the other primes of a multi-prime RSA key),
// which it ignores; this check does not lean on the library for the rule.
func (v *Verifier) checkHeader(seg string) error {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return errors.New("header is not base64url")
	}
	var h struct {
		JWK map[string]json.RawMessage `json:"jwk"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return errors.New("header is not a JSON object")
	}
	for _, m := range v.forbidden {
		if _, ok := h.JWK[m]; ok {
			return fmt.Errorf("jwk has the private member %q", m)
		}
	}
	return nil
}

// VerifyProof is Verify with plain types: the resourceserver package's
// ProofVerifier. It returns the thumbprint of the proof's key.
func (v *Verifier) VerifyProof(ctx context.Context, raw, method, url string, accessTokenHash []byte) (string, error) {
	p, err := v.Verify(ctx, raw, Request{Method: method, URL: url, AccessTokenHash: accessTokenHash})
	if err != nil {
		return "", err
	}
	return p.Thumbprint, nil
}
