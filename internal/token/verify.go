package token

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken wraps every reason VerifyAccess rejects a token; callers
// map it to RFC 6750 §3.1 invalid_token. The wrapped reason is for logs,
// not for the response.
var ErrInvalidToken = errors.New("token: invalid token")

// DefaultLeeway is the clock skew allowed on nbf and iat: another instance
// whose clock runs ahead may have issued the token. exp has none: every
// endpoint that checks a token (the API, userinfo, introspection) calls it
// expired at the same instant, and the deny list forgets a jti once its
// token has expired.
const DefaultLeeway = 30 * time.Second

// KeyLookup finds a published key by kid. *KeySet implements it.
type KeyLookup interface {
	Lookup(kid string) (*Key, bool)
}

// Verifier checks RFC 9068 access tokens against local keys: no network,
// no JWKS parsing per call. It is safe for concurrent use.
type Verifier struct {
	keys   KeyLookup
	parser *jwt.Parser
	now    func() time.Time
}

// NewVerifier returns a Verifier that accepts tokens whose iss is exactly
// issuer and whose aud names at least one of audience. leeway 0 means
// DefaultLeeway. Both issuer and audience are required: without them any
// token our keys signed (for another resource) would pass.
func NewVerifier(keys KeyLookup, issuer string, audience []string, leeway time.Duration, now func() time.Time) (*Verifier, error) {
	if issuer == "" || len(audience) == 0 || keys == nil || now == nil {
		return nil, errors.New("token: verifier needs keys, an issuer, an audience and a clock")
	}
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	return &Verifier{keys: keys, now: now, parser: jwt.NewParser(
		jwt.WithValidMethods(Algorithms()), // asymmetric only: never none or HS*
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(), // one encoding per token: no malleable base64
	)}, nil
}

// VerifyAccess checks the signature, header and claims of an access token
// (RFC 9068 §4) and returns its claims. Every failure wraps
// ErrInvalidToken.
func (v *Verifier) VerifyAccess(raw string) (*AccessClaims, error) {
	var w accessWire
	if _, err := v.parser.ParseWithClaims(raw, &w, v.keyFor); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if !v.now().Before(w.Exp.Time) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, jwt.ErrTokenExpired)
	}
	c := &AccessClaims{
		Issuer: w.Iss, Subject: w.Sub, Audience: w.Aud, ClientID: w.ClientID,
		Scope: strings.Fields(w.Scope), Roles: w.Roles, JTI: w.Jti,
		IssuedAt: w.Iat.UTC(), ExpiresAt: w.Exp.UTC(), ACR: w.Acr,
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
	return c, nil
}

// keyFor checks the JOSE header before any signature work: typ at+jwt
// (RFC 9068 §4, which is what stops an ID token passing as an access
// token), then what publishedKey checks.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, fmt.Errorf("token: typ %q is not at+jwt", typ)
	}
	return publishedKey(v.keys, t)
}

// publishedKey is the public key that verifies t: no crit header, a kid
// we publish, and an alg equal to that key's own alg, so a header cannot
// make us use an RSA public key as an HMAC secret; an ECDSA signature
// must be in low-S form, so that no token has two encodings.
func publishedKey(keys KeyLookup, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("token: unsupported crit header") // RFC 7515 §4.1.11
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("token: no kid in header")
	}
	key, ok := keys.Lookup(kid)
	if !ok {
		return nil, fmt.Errorf("token: unknown kid %q", kid)
	}
	if alg := t.Method.Alg(); alg != key.Algorithm() {
		return nil, fmt.Errorf("token: alg %q does not match key %s (%s)", alg, kid, key.Algorithm())
	}
	if err := checkLowS(t.Method, t.Signature); err != nil {
		return nil, err
	}
	return key.Public(), nil
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
	Cnf      *cnf             `json:"cnf"`
}

var (
	_ jwt.Claims          = (*accessWire)(nil)
	_ jwt.ClaimsValidator = (*accessWire)(nil)
)

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
