package resourceserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults of JWKSConfig.
const (
	// DefaultLeeway is the clock skew allowed on nbf and iat: the issuer's
	// clock may run a little ahead. exp has none.
	DefaultLeeway = 30 * time.Second
	// DefaultRefetchFloor is the least time between two fetches of the
	// JWKS caused by tokens naming an unknown kid, so that a flood of
	// forged kids costs the issuer at most one request per floor.
	DefaultRefetchFloor = 10 * time.Second
	// DefaultJWKSRefresh is how often the JWKS is fetched again anyway, so
	// that a retired key stops verifying.
	DefaultJWKSRefresh = time.Hour
)

// DefaultAlgorithms are the token algorithms accepted unless configured
// otherwise: what oauth2d signs with. "none" and the HS* algorithms are
// never accepted, whatever the configuration.
var DefaultAlgorithms = []string{"ES256", "RS256", "PS256", "EdDSA"}

// JWKSConfig configures a JWKSVerifier.
type JWKSConfig struct {
	// Issuer is the authorization server: iss must equal it. Required.
	Issuer string
	// Audience is this API's resource identifier: aud must name it.
	// Required, so that a token issued for another API never passes.
	Audience string
	// JWKSURL is where the keys are; empty: the jwks_uri of the issuer's
	// RFC 8414 metadata.
	JWKSURL string
	// Algorithms are the accepted signature algorithms (DefaultAlgorithms
	// when empty); only asymmetric ones may be named.
	Algorithms []string
	// Leeway is the skew allowed on nbf and iat (DefaultLeeway when 0).
	Leeway time.Duration
	// RefetchFloor is the least time between two JWKS fetches for an
	// unknown kid (DefaultRefetchFloor when 0); Refresh how often the JWKS
	// is fetched again regardless (DefaultJWKSRefresh when 0).
	RefetchFloor time.Duration
	Refresh      time.Duration
	// HTTPClient fetches metadata and keys (a client with a 10 s timeout
	// when nil).
	HTTPClient *http.Client
	Now        func() time.Time // time.Now when nil
}

// JWKSVerifier verifies RFC 9068 access tokens against the issuer's
// published JWKS, fetched over HTTP and cached: a token naming a kid the
// cache does not hold makes it fetch the JWKS again, at most once per
// RefetchFloor, so a key rotation needs no restart. It checks the JOSE
// header (typ at+jwt, which tells an access token from an ID token signed
// by the same keys; an allowed alg equal to the key's own; a kid; no
// crit), the signature, iss, aud, exp, nbf and iat, and the presence of
// sub, client_id and jti (RFC 9068 §2.2, §4). It is safe for concurrent
// use.
type JWKSVerifier struct {
	cfg    JWKSConfig
	parser *jwt.Parser

	mu        sync.Mutex // serialises fetches
	keys      sync.Map   // kid → jose.JSONWebKey, swapped whole under mu
	fetchedAt time.Time
}

var _ Verifier = (*JWKSVerifier)(nil)

// NewJWKSVerifier returns a verifier for cfg, having fetched the keys
// once (and the metadata first when JWKSURL is empty), so that a wrong
// setting fails at start rather than on the first request.
func NewJWKSVerifier(ctx context.Context, cfg JWKSConfig) (*JWKSVerifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("resourceserver: a JWKS verifier needs an issuer and an audience")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	for _, alg := range cfg.Algorithms {
		if !slices.Contains([]string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}, alg) {
			return nil, fmt.Errorf("resourceserver: algorithm %q is not an asymmetric JWS algorithm", alg)
		}
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.RefetchFloor <= 0 {
		cfg.RefetchFloor = DefaultRefetchFloor
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultJWKSRefresh
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.JWKSURL == "" {
		md, err := Discover(ctx, cfg.HTTPClient, cfg.Issuer)
		if err != nil {
			return nil, err
		}
		cfg.JWKSURL = md.JWKSURI
	}
	v := &JWKSVerifier{cfg: cfg, parser: jwt.NewParser(
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	)}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.fetchLocked(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// VerifyAccess implements Verifier. Every error wraps ErrInvalidToken.
func (v *JWKSVerifier) VerifyAccess(raw string) (*Claims, error) {
	var w accessWire
	if _, err := v.parser.ParseWithClaims(raw, &w, v.keyFor); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if !v.cfg.Now().Before(w.Exp.Time) { // the parser allows leeway on exp too
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, jwt.ErrTokenExpired)
	}
	return w.claims(), nil
}

// keyFor checks the JOSE header before any signature work and finds the
// key, fetching the JWKS again for an unknown kid.
func (v *JWKSVerifier) keyFor(t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, fmt.Errorf("typ %q is not at+jwt", typ)
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("unsupported crit header") // RFC 7515 §4.1.11
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("no kid in header")
	}
	key, ok := v.lookup(kid)
	if !ok {
		v.refetch()
		if key, ok = v.lookup(kid); !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
	}
	alg := t.Method.Alg()
	if key.Algorithm != "" && key.Algorithm != alg {
		return nil, fmt.Errorf("alg %q does not match key %s (%s)", alg, kid, key.Algorithm)
	}
	if !keyFits(key.Key, alg) {
		return nil, fmt.Errorf("key %s cannot verify %s", kid, alg)
	}
	return key.Key, nil
}

// keyFits reports whether a public key of this type verifies alg, so a
// header cannot make an RSA key serve an ECDSA signature or worse.
func keyFits(key any, alg string) bool {
	switch key.(type) {
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func (v *JWKSVerifier) lookup(kid string) (jose.JSONWebKey, bool) {
	k, ok := v.keys.Load(kid)
	if !ok {
		v.refreshIfOld()
		return jose.JSONWebKey{}, false
	}
	v.refreshIfOld()
	return k.(jose.JSONWebKey), true
}

// refreshIfOld starts a fetch of the JWKS in the background when the last
// one is older than Refresh, so that a key the issuer has withdrawn stops
// verifying; the request that notices does not wait for it.
func (v *JWKSVerifier) refreshIfOld() {
	if !v.mu.TryLock() {
		return // a fetch is under way
	}
	if v.cfg.Now().Sub(v.fetchedAt) < v.cfg.Refresh {
		v.mu.Unlock()
		return
	}
	go func() {
		defer v.mu.Unlock()
		_ = v.fetchWithTimeout()
	}()
}

// refetch fetches the JWKS again for an unknown kid unless the last fetch
// is more recent than the floor. Concurrent callers wait for one fetch.
func (v *JWKSVerifier) refetch() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cfg.Now().Sub(v.fetchedAt) < v.cfg.RefetchFloor {
		return
	}
	_ = v.fetchWithTimeout()
}

func (v *JWKSVerifier) fetchWithTimeout() error {
	ctx, cancel := context.WithTimeout(context.Background(), defaultHTTPTimeout)
	defer cancel()
	return v.fetchLocked(ctx)
}

// fetchLocked replaces the keys with the published ones. A failed fetch
// keeps the old keys (and counts towards the floor, so an issuer that is
// down is not hammered).
func (v *JWKSVerifier) fetchLocked(ctx context.Context) error {
	v.fetchedAt = v.cfg.Now()
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, v.cfg.HTTPClient, v.cfg.JWKSURL, &set); err != nil {
		return err
	}
	fresh := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		if k.KeyID == "" || !k.IsPublic() || k.Use != "" && k.Use != "sig" {
			continue
		}
		fresh[k.KeyID] = k
	}
	v.keys.Range(func(kid, _ any) bool {
		if _, ok := fresh[kid.(string)]; !ok {
			v.keys.Delete(kid)
		}
		return true
	})
	for kid, k := range fresh {
		v.keys.Store(kid, k)
	}
	return nil
}

// accessWire is an access token's payload as parsed for verification.
type accessWire struct {
	Iss      string           `json:"iss"`
	Sub      string           `json:"sub"`
	Aud      jwt.ClaimStrings `json:"aud"`
	Exp      *jwt.NumericDate `json:"exp"`
	Iat      *jwt.NumericDate `json:"iat"`
	Nbf      *jwt.NumericDate `json:"nbf"`
	Jti      string           `json:"jti"`
	ClientID string           `json:"client_id"`
	Scope    string           `json:"scope"`
	Roles    []string         `json:"roles"`
	AuthTime *jwt.NumericDate `json:"auth_time"`
	Acr      string           `json:"acr"`
	Cnf      *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

var _ jwt.ClaimsValidator = (*accessWire)(nil)

func (w *accessWire) GetExpirationTime() (*jwt.NumericDate, error) { return w.Exp, nil }
func (w *accessWire) GetIssuedAt() (*jwt.NumericDate, error)       { return w.Iat, nil }
func (w *accessWire) GetNotBefore() (*jwt.NumericDate, error)      { return w.Nbf, nil }
func (w *accessWire) GetIssuer() (string, error)                   { return w.Iss, nil }
func (w *accessWire) GetSubject() (string, error)                  { return w.Sub, nil }
func (w *accessWire) GetAudience() (jwt.ClaimStrings, error)       { return w.Aud, nil }

// Validate requires the claims RFC 9068 §2.2 makes mandatory beyond those
// the parser already checks (iss, aud, exp).
func (w *accessWire) Validate() error {
	var missing []string
	for _, c := range []struct {
		name    string
		present bool
	}{{"sub", w.Sub != ""}, {"client_id", w.ClientID != ""}, {"iat", w.Iat != nil}, {"jti", w.Jti != ""}} {
		if !c.present {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", jwt.ErrTokenRequiredClaimMissing, strings.Join(missing, ", "))
	}
	return nil
}

func (w *accessWire) claims() *Claims {
	c := &Claims{
		Issuer: w.Iss, Subject: w.Sub, Audience: w.Aud, ClientID: w.ClientID,
		Scope: strings.Fields(w.Scope), Roles: w.Roles, JTI: w.Jti, ACR: w.Acr,
		IssuedAt: w.Iat.UTC(), ExpiresAt: w.Exp.UTC(),
	}
	if w.Nbf != nil {
		c.NotBefore = w.Nbf.UTC()
	}
	if w.AuthTime != nil {
		c.AuthTime = w.AuthTime.UTC()
	}
	if w.Cnf != nil {
		c.JKT = w.Cnf.JKT
	}
	return c
}
