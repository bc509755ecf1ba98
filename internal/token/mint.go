package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

	"github.com/oauth2d/oauth2d/internal/tracing"
	"github.com/oauth2d/oauth2d/resourceserver"
)

// AccessClaims are the claims of an RFC 9068 access token: the public
// resource server package's type, so that the built-in API and outside
// resource servers read one shape.
type AccessClaims = resourceserver.Claims

// AccessRequest is what the caller decides about a new access token; the
// Minter fills in the rest.
type AccessRequest struct {
	Subject  string
	ClientID string
	Scope    []string
	Roles    []string
	Audience []string      // empty: the Minter's audience
	JTI      string        // empty: a fresh NewJTI
	IssuedAt time.Time     // zero: the Minter's now; set it to know exp before minting
	Lifetime time.Duration // required; exp = iat + Lifetime
	AuthTime time.Time     // when the user authenticated; zero if unknown
	JKT      string        // binds the token to a DPoP key (cnf.jkt); empty: a bearer token
	// ACR and AMR say how the user authenticated (RFC 9068 §2.2.3:
	// acr, amr); empty: not said (a client's own token).
	ACR string
	AMR []string
}

// Minter issues access tokens and ID tokens signed by a KeySet's active
// keys. It is safe for concurrent use.
type Minter struct {
	keys     *KeySet
	issuer   string
	audience []string
	now      func() time.Time
}

// NewMinter returns a Minter for issuer whose access tokens carry audience
// unless a request names its own.
func NewMinter(keys *KeySet, issuer string, audience []string, now func() time.Time) *Minter {
	return &Minter{keys: keys, issuer: issuer, audience: slices.Clone(audience), now: now}
}

// NewJTI returns a fresh token id with 130 random bits.
func NewJTI() string { return rand.Text() }

// accessPayload is the wire form of an access token. A struct with fixed
// fields marshals several times faster than a jwt.MapClaims.
type accessPayload struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      any      `json:"aud"` // a string for one audience, else an array (RFC 7519 §4.1.3)
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Jti      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	Acr      string   `json:"acr,omitempty"`
	Amr      []string `json:"amr,omitempty"`
	Cnf      *cnf     `json:"cnf,omitempty"`
}

// cnf is the confirmation claim (RFC 7800 §3.1) of a DPoP-bound token.
type cnf struct {
	JKT string `json:"jkt"`
}

// MintAccess signs an RFC 9068 access token (header typ "at+jwt") with
// the active key for the set's access algorithm. It returns the token and
// its claims as a verifier will read them (times in whole seconds).
func (m *Minter) MintAccess(ctx context.Context, req AccessRequest) (string, AccessClaims, error) {
	if req.Subject == "" || req.ClientID == "" {
		return "", AccessClaims{}, errors.New("token: access token needs a subject and a client id")
	}
	if req.Lifetime <= 0 {
		return "", AccessClaims{}, errors.New("token: access token lifetime must be positive")
	}
	// JSON would replace invalid UTF-8 silently: the token would then say
	// something other than what the caller decided (found by
	// FuzzVerifyAccess).
	if !validUTF8(req.Subject, req.ClientID, req.JTI, req.ACR) || !validUTF8(req.AMR...) || !validUTF8(req.Scope...) || !validUTF8(req.Roles...) || !validUTF8(req.Audience...) {
		return "", AccessClaims{}, errors.New("token: access token claims must be valid UTF-8")
	}
	key, err := m.keys.Active(m.keys.AccessAlgorithm())
	if err != nil {
		return "", AccessClaims{}, err
	}
	c := AccessClaims{
		Issuer: m.issuer, Subject: req.Subject, Audience: req.Audience, ClientID: req.ClientID,
		Scope: req.Scope, Roles: req.Roles, JTI: req.JTI, IssuedAt: req.IssuedAt,
		AuthTime: utcSeconds(req.AuthTime), JKT: req.JKT, ACR: req.ACR,
	}
	if len(c.Audience) == 0 {
		c.Audience = m.audience
	}
	if c.JTI == "" {
		c.JTI = NewJTI()
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = m.now()
	}
	// Whole seconds in UTC: exactly what VerifyAccess will read back.
	c.IssuedAt = c.IssuedAt.Truncate(time.Second).UTC()
	c.NotBefore = c.IssuedAt
	c.ExpiresAt = c.IssuedAt.Add(req.Lifetime).Truncate(time.Second)
	p := accessPayload{
		Iss: c.Issuer, Sub: c.Subject, Aud: audienceClaim(c.Audience), Exp: c.ExpiresAt.Unix(),
		Iat: c.IssuedAt.Unix(), Nbf: c.NotBefore.Unix(), Jti: c.JTI, ClientID: c.ClientID,
		Scope: strings.Join(c.Scope, " "), Roles: c.Roles, AuthTime: unixOrZero(c.AuthTime),
		Acr: req.ACR, Amr: req.AMR,
	}
	if c.JKT != "" {
		p.Cnf = &cnf{JKT: c.JKT}
	}
	payload, err := json.Marshal(&p)
	if err != nil {
		return "", AccessClaims{}, fmt.Errorf("token: marshal claims: %w", err)
	}
	raw, err := key.sign(ctx, "access", key.atHeader, payload)
	if err != nil {
		return "", AccessClaims{}, err
	}
	return raw, c, nil
}

func audienceClaim(aud []string) any {
	if len(aud) == 1 {
		return aud[0]
	}
	return aud
}

func utcSeconds(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Second).UTC()
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// sign returns header.payload.signature. The header is already base64url;
// kind names the token in the span that times the signature.
func (k *Key) sign(ctx context.Context, kind, header string, payload []byte) (raw string, err error) {
	_, span := tracing.Start(ctx, "token.sign")
	if span.IsRecording() {
		span.SetAttributes(attribute.String("oauth2d.token.kind", kind),
			attribute.String("oauth2d.token.alg", k.alg), attribute.String("oauth2d.token.kid", k.id))
	}
	defer func() { tracing.End(span, err) }()
	enc := base64.RawURLEncoding
	buf := make([]byte, len(header)+1+enc.EncodedLen(len(payload)))
	copy(buf, header)
	buf[len(header)] = '.'
	enc.Encode(buf[len(header)+1:], payload)
	signing := string(buf)
	sig, err := k.SignJWS(signing) // low-S: one string per token (lows.go)
	if err != nil {
		return "", err
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// IDClaims is what the caller decides about an OpenID Connect ID token.
type IDClaims struct {
	Subject     string
	Audience    string        // the client id
	Nonce       string        // echoed from the authentication request; omitted if empty
	AuthTime    time.Time     // omitted if zero
	AccessToken string        // issued alongside; sets at_hash (OIDC Core §3.1.3.6)
	IssuedAt    time.Time     // zero: the Minter's now
	Lifetime    time.Duration // required
	// SessionID is the browser session's sid (OIDC Back-Channel Logout
	// 1.0 §2.1); omitted if empty.
	SessionID string
	// ACR and AMR say how the user authenticated (OIDC Core §2); omitted
	// if empty.
	ACR string
	AMR []string
	// Extra holds further claims (name, email, ...). It may not set a
	// claim this package sets itself.
	Extra map[string]any
}

// reservedIDClaim reports the claims MintIDToken owns; Extra cannot set
// them.
func reservedIDClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "at_hash", "c_hash", "azp", "jti", "sid", "acr", "amr":
		return true
	}
	return false
}

// MintIDToken signs an ID token (header typ "JWT") with the active key for
// the set's ID token algorithm.
func (m *Minter) MintIDToken(ctx context.Context, c IDClaims) (string, error) {
	if c.Subject == "" || c.Audience == "" {
		return "", errors.New("token: id token needs a subject and an audience")
	}
	if c.Lifetime <= 0 {
		return "", errors.New("token: id token lifetime must be positive")
	}
	key, iat, err := m.idTokenKey(c.IssuedAt)
	if err != nil {
		return "", err
	}
	claims := make(map[string]any, len(c.Extra)+8)
	for name, v := range c.Extra {
		if reservedIDClaim(name) {
			return "", fmt.Errorf("token: id token extra claim %q is reserved", name)
		}
		claims[name] = v
	}
	claims["iss"], claims["sub"], claims["aud"] = m.issuer, c.Subject, c.Audience
	claims["iat"], claims["exp"] = iat.Unix(), iat.Add(c.Lifetime).Unix()
	if !c.AuthTime.IsZero() {
		claims["auth_time"] = c.AuthTime.Unix()
	}
	if c.Nonce != "" {
		claims["nonce"] = c.Nonce
	}
	if c.SessionID != "" {
		claims["sid"] = c.SessionID
	}
	if c.ACR != "" {
		claims["acr"] = c.ACR
	}
	if len(c.AMR) > 0 {
		claims["amr"] = c.AMR
	}
	if c.AccessToken != "" {
		claims["at_hash"] = AccessTokenHash(key.Algorithm(), c.AccessToken)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("token: marshal id token claims: %w", err)
	}
	return key.sign(ctx, "id", key.idHeader, payload)
}

// idTokenKey is the signing key and issue time shared by ID and logout
// tokens: both are signed with the ID token algorithm's active key (a
// relying party verifies them with the same keys), and a zero issuedAt
// means now.
func (m *Minter) idTokenKey(issuedAt time.Time) (*Key, time.Time, error) {
	key, err := m.keys.Active(m.keys.IDTokenAlgorithm())
	if err != nil {
		return nil, time.Time{}, err
	}
	if issuedAt.IsZero() {
		issuedAt = m.now()
	}
	return key, issuedAt, nil
}

// AccessTokenHash is the at_hash of OIDC Core §3.1.3.6: the base64url
// left half of the access token's hash under the ID token's alg. For
// EdDSA (Ed25519) that hash is SHA-512, as RFC 8032 uses and as the OpenID
// Connect working group agreed (issue 1125); go-oidc computes the same.
func AccessTokenHash(alg, accessToken string) string {
	var h hash.Hash
	if alg == AlgEdDSA {
		h = sha512.New()
	} else {
		h = sha256.New()
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
