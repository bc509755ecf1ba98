package oauth

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/oauth2d/oauth2d/internal/clientkeys"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Client assertions (private_key_jwt): RFC 7523 §2.2 and §3, OpenID
// Connect Core §9, with the audience rule of draft-ietf-oauth-rfc7523bis
// (which updates RFC 7523 §3 after the audience-injection attacks of
// CVE-2025-27370/27371): aud is the authorization server's issuer
// identifier, as one string.
const (
	// ClientAssertionTypeJWT is the client_assertion_type of a JWT client
	// assertion (RFC 7523 §2.2).
	ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// maxClientAssertionLen bounds client_assertion, checked before it is
	// parsed: an RS256 assertion with the usual claims is under 1 KiB.
	maxClientAssertionLen = 8 << 10
	// maxAssertionLifetime is the longest an assertion may live, from
	// iat (or from now, without iat) to exp. An assertion is signed for
	// one request; a long-lived one is a bearer credential, and its jti
	// would have to be remembered as long.
	maxAssertionLifetime = 5 * time.Minute
	// assertionSkew is the clock difference tolerated on exp, nbf, iat.
	assertionSkew = 30 * time.Second
	// maxAssertionJTILen bounds jti (it is hashed before it is stored).
	maxAssertionJTILen = 512
)

// assertionDeps are what checking a client assertion needs. With no
// Replay store private_key_jwt is off: every assertion is refused.
type assertionDeps struct {
	issuer string // aud must be exactly this
	replay storage.AssertionReplayStore
	keys   *clientkeys.Fetcher // nil: clients with a jwks_uri cannot authenticate
	now    func() time.Time
}

// readClientAssertion reads client_assertion_type and client_assertion,
// the assertion's size first. Basic credentials or a client_secret beside
// it are two methods at once (RFC 6749 §2.3). client_id is optional; if
// sent it must be the assertion's sub (RFC 7521 §4.2), checked once the
// assertion is read.
func readClientAssertion(r *http.Request, f form) (clientCredentials, *Error) {
	assertion, typ := f.get("client_assertion"), f.get("client_assertion_type")
	if len(assertion) > maxClientAssertionLen {
		return clientCredentials{}, ErrInvalidClient.WithDescription("client_assertion is too large")
	}
	if r.Header.Get("Authorization") != "" || f.get("client_secret") != "" {
		return clientCredentials{}, ErrInvalidRequest.WithDescription("more than one client authentication method was used")
	}
	if typ != ClientAssertionTypeJWT {
		return clientCredentials{}, ErrInvalidClient.WithDescription("client_assertion_type must be " + ClientAssertionTypeJWT)
	}
	if assertion == "" {
		return clientCredentials{}, ErrInvalidClient.WithDescription("client_assertion is required with client_assertion_type")
	}
	id := f.get("client_id")
	if len(id) > maxClientIDLen {
		return clientCredentials{}, ErrInvalidClient
	}
	return clientCredentials{id: id, assertion: assertion, method: authMethodPrivateKeyJWT}, nil
}

// assertionClaims are the claims RFC 7523 §3 speaks of. aud is kept raw
// to tell a string from an array.
type assertionClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp *float64        `json:"exp"`
	Nbf *float64        `json:"nbf"`
	Iat *float64        `json:"iat"`
	JTI string          `json:"jti"`
}

// checkAssertion authenticates a private_key_jwt client: the JWS is read
// with the allowed algorithms only, the client found by its sub, the
// signature checked with a key of the client's registered set, then the
// claims, and last the jti is recorded so that the assertion serves once
// on any instance. Unverified claims only choose the client and the key;
// every decision is made on the verified ones.
func (a *clientAuthenticator) checkAssertion(ctx context.Context, cc clientCredentials) (*storage.Client, string, *Error) {
	d := a.assertions
	if d.replay == nil {
		return nil, "", ErrInvalidClient.WithDescription("private_key_jwt is not enabled")
	}
	jws, err := jose.ParseSignedCompact(cc.assertion, clientkeys.Algorithms)
	if err != nil {
		return nil, "", ErrInvalidClient.WithDescription("client_assertion is not a compact JWS signed with one of RS256, PS256, ES256, ES384, EdDSA")
	}
	hdr := jws.Signatures[0].Protected
	if e := checkAssertionType(hdr); e != nil {
		return nil, "", e
	}
	var claims assertionClaims
	if json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims) != nil {
		return nil, "", ErrInvalidClient.WithDescription("the client assertion's claims are not a JSON object")
	}
	if claims.Sub == "" || claims.Iss != claims.Sub || len(claims.Sub) > maxClientIDLen {
		return nil, "", ErrInvalidClient.WithDescription("the client assertion's iss and sub must both be the client_id")
	}
	if cc.id != "" && cc.id != claims.Sub {
		return nil, "", ErrInvalidClient.WithDescription("client_id does not match the client assertion's sub")
	}
	client, e := a.lookup(ctx, claims.Sub)
	if e != nil {
		return nil, "", e
	}
	if client.AuthMethod() != authMethodPrivateKeyJWT {
		return nil, client.ID, ErrInvalidClient.WithDescription("the client is not registered for private_key_jwt")
	}
	if e := a.verifyAssertionSignature(ctx, client, jws, hdr); e != nil {
		return nil, client.ID, e
	}
	now := d.now()
	if e := checkAssertionClaims(&claims, d.issuer, now); e != nil {
		return nil, client.ID, e
	}
	// Remembered until it can no longer be accepted anyway: exp, plus
	// the skew allowed, plus a second for Redis's rounding.
	ttl := min(unixTime(*claims.Exp).Sub(now)+assertionSkew+time.Second, storage.MaxAssertionTTL)
	fresh, err := d.replay.RecordAssertion(ctx, client.ID, claims.JTI, ttl)
	if err != nil {
		return nil, client.ID, ErrServerError.Wrap(err)
	}
	if !fresh {
		return nil, client.ID, ErrInvalidClient.WithDescription("the client assertion was used before (its jti is spent)")
	}
	return client, client.ID, nil
}

// checkAssertionType: RFC 7523 clients send no typ or "JWT";
// draft-ietf-oauth-rfc7523bis registers the explicit type
// client-authentication+jwt (RFC 8725 §3.11), which is accepted too.
// Any other explicit type is another kind of JWT (a DPoP proof, an access
// token, a request object) that the client's key may have signed, and
// is refused rather than taken for an assertion.
func checkAssertionType(hdr jose.Header) *Error {
	typ, ok := hdr.ExtraHeaders[jose.HeaderType]
	if !ok {
		return nil
	}
	s, _ := typ.(string)
	switch strings.TrimPrefix(strings.ToLower(s), "application/") {
	case "jwt", "client-authentication+jwt":
		return nil
	}
	return ErrInvalidClient.WithDescription("the client assertion's typ must be absent, JWT or client-authentication+jwt")
}

// verifyAssertionSignature checks the JWS with the client's keys: those
// registered inline, or those at its jwks_uri (fetched through the
// outbound guard, cached; a kid the cache lacks fetches again, at most
// every clientkeys.DefaultMinRefetch). Keys that do not fit the alg, or
// whose kid is another, are never tried.
func (a *clientAuthenticator) verifyAssertionSignature(ctx context.Context, client *storage.Client, jws *jose.JSONWebSignature, hdr jose.Header) *Error {
	var set *jose.JSONWebKeySet
	var err error
	switch {
	case client.JWKS != "":
		set, err = clientkeys.ParseSet([]byte(client.JWKS))
		if err != nil {
			return ErrInvalidClient.WithDescription("the client's registered keys are unusable").Wrap(err)
		}
	case client.JWKSURI != "" && a.assertions.keys != nil:
		set, err = a.assertions.keys.Keys(ctx, client.JWKSURI, hdr.KeyID)
		if err != nil {
			return ErrInvalidClient.WithDescription("the client's jwks_uri could not be read").Wrap(err)
		}
	default:
		return ErrInvalidClient.WithDescription("the client has no keys to verify its assertion with")
	}
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	if hdr.KeyID != "" && !clientkeys.HasKeyID(set, hdr.KeyID) {
		return ErrInvalidClient.WithDescription("the client assertion's kid names no key of the client")
	}
	for _, k := range clientkeys.Candidates(set, hdr.KeyID, alg) {
		if _, err := jws.Verify(k); err == nil {
			return nil
		}
	}
	return ErrInvalidClient.WithDescription("the client assertion's signature does not verify with the client's keys")
}

// checkAssertionClaims applies RFC 7523 §3 with the audience rule of
// draft-ietf-oauth-rfc7523bis: aud must be exactly the issuer identifier,
// as a JSON string. An array is refused even when it holds the issuer,
// and so is the token endpoint's URL that RFC 7523 and OpenID Connect
// Core once suggested: that is the ambiguity the update removes, and
// accepting it would keep assertions that another server could replay
// here valid. Nothing else is accepted for compatibility; clients of
// current libraries (oauth4webapi, go-jose users following FAPI 2.0) send
// the issuer as a string.
func checkAssertionClaims(c *assertionClaims, issuer string, now time.Time) *Error {
	var aud string
	if len(c.Aud) == 0 || c.Aud[0] != '"' || json.Unmarshal(c.Aud, &aud) != nil {
		return ErrInvalidClient.WithDescription("the client assertion's aud must be the issuer identifier as a single string")
	}
	if aud != issuer {
		return ErrInvalidClient.WithDescription("the client assertion's aud must be the issuer identifier " + issuer)
	}
	if c.Exp == nil {
		return ErrInvalidClient.WithDescription("the client assertion needs exp")
	}
	exp := unixTime(*c.Exp)
	if !now.Before(exp.Add(assertionSkew)) {
		return ErrInvalidClient.WithDescription("the client assertion has expired")
	}
	if exp.Sub(now) > maxAssertionLifetime+assertionSkew {
		return ErrInvalidClient.WithDescription("the client assertion's exp is too far in the future (at most 5 minutes)")
	}
	if c.Iat != nil {
		iat := unixTime(*c.Iat)
		if iat.After(now.Add(assertionSkew)) {
			return ErrInvalidClient.WithDescription("the client assertion's iat is in the future")
		}
		if exp.Sub(iat) > maxAssertionLifetime {
			return ErrInvalidClient.WithDescription("the client assertion lives too long (exp - iat over 5 minutes)")
		}
	}
	if c.Nbf != nil && unixTime(*c.Nbf).After(now.Add(assertionSkew)) {
		return ErrInvalidClient.WithDescription("the client assertion is not valid yet (nbf)")
	}
	if c.JTI == "" || len(c.JTI) > maxAssertionJTILen {
		return ErrInvalidClient.WithDescription("the client assertion needs a jti of at most 512 characters")
	}
	return nil
}

// unixTime reads a NumericDate; values beyond any real date saturate, so
// that no arithmetic on them overflows.
func unixTime(v float64) time.Time {
	const limit = 1 << 40 // about 36,000 years
	if math.IsNaN(v) || v < -limit {
		v = -limit
	}
	if v > limit {
		v = limit
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9))
}
