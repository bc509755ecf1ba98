package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// AccessClaims are the RFC 9068 claims of an oauth2d access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	Roles    []string `json:"roles,omitempty"`
	// Cnf is set on a DPoP-bound token (RFC 9449 §6.1): only its key's
	// holder may use it.
	Cnf *struct {
		JKT string `json:"jkt"`
	} `json:"cnf,omitempty"`
}

// Verifier checks oauth2d access tokens against the issuer's JWKS.
type Verifier struct {
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
	realm  string
	// Proofs checks the proofs of DPoP-bound tokens; nil refuses them.
	Proofs *ProofChecker
}

// NewVerifier fetches the JWKS of issuer (refreshed hourly, and when a
// token names an unknown kid, so key rotation needs no restart).
func NewVerifier(ctx context.Context, issuer, audience string) (*Verifier, error) {
	jwksURL := strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json"
	keys, err := keyfunc.NewDefaultCtx(ctx, []string{jwksURL})
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", jwksURL, err)
	}
	return &Verifier{keys: keys, realm: issuer, parser: jwt.NewParser(
		jwt.WithValidMethods(acceptedAlgorithms()),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
	)}, nil
}

// Verify returns the claims of a valid access token.
func (v *Verifier) Verify(raw string) (*AccessClaims, error) {
	var c AccessClaims
	if _, err := v.parser.ParseWithClaims(raw, &c, v.keyFor); err != nil {
		return nil, err
	}
	if c.Subject == "" || c.ClientID == "" || c.ID == "" {
		return nil, errors.New("sub, client_id and jti are required")
	}
	return &c, nil
}

// keyFor refuses anything but an access token before any signature work:
// typ "at+jwt" (RFC 9068 §4) is what tells it from an ID token signed by
// the same keys.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, fmt.Errorf("typ %q is not at+jwt", typ)
	}
	if kid, _ := t.Header["kid"].(string); kid == "" {
		return nil, errors.New("no kid")
	}
	return v.keys.Keyfunc(t)
}

// acceptedAlgorithms are the algorithms oauth2d signs with: asymmetric
// only, so never "none" and never HS256 keyed with a public key.
//
// The list is written out rather than taken from oauth2d's
// internal/config: this program is the example third parties copy, and
// Go does not let code outside the oauth2d module import its internal
// packages. verify_test.go keeps the list equal to what oauth2d signs with.
func acceptedAlgorithms() []string { return []string{"ES256", "RS256", "PS256", "EdDSA"} }

var errBadProof = errors.New("invalid DPoP proof")

// checkBinding: a token with cnf.jkt needs the DPoP scheme and a proof by
// that key; a token without one must not come with the DPoP scheme.
func (v *Verifier) checkBinding(r *http.Request, raw string, isDPoP bool, c *AccessClaims) error {
	switch {
	case c.Cnf == nil && !isDPoP:
		return nil
	case c.Cnf == nil || c.Cnf.JKT == "" || !isDPoP:
		return errors.New("DPoP scheme and token binding disagree")
	}
	if err := v.Proofs.Check(r, raw, c.Cnf.JKT); err != nil {
		return fmt.Errorf("%w: %w", errBadProof, err)
	}
	return nil
}

type claimsKey struct{}

// ClaimsFrom returns the claims Require stored in the request context.
func ClaimsFrom(ctx context.Context) *AccessClaims {
	c, _ := ctx.Value(claimsKey{}).(*AccessClaims)
	return c
}

// Require lets a request through with a valid bearer token (RFC 6750
// §2.1, header only), or a DPoP-bound token with its proof (RFC 9449 §7),
// granted scope, with RFC 6750 §3 / RFC 9449 §7 errors otherwise. A bound
// token is never accepted as a bearer token.
func (v *Verifier) Require(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		isDPoP := strings.EqualFold(scheme, "DPoP") && v.Proofs != nil
		challenge := `Bearer realm="` + v.realm + `"`
		if isDPoP {
			challenge = `DPoP realm="` + v.realm + `", algs="ES256 ES384 PS256 RS256 EdDSA"`
		}
		if !strings.EqualFold(scheme, "Bearer") && !isDPoP || raw == "" {
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		c, err := v.Verify(raw)
		if err == nil {
			err = v.checkBinding(r, raw, isDPoP, c)
		}
		if errors.Is(err, errBadProof) {
			w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_dpop_proof"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !slices.Contains(strings.Fields(c.Scope), scope) {
			w.Header().Set("WWW-Authenticate", challenge+`, error="insufficient_scope", scope="`+scope+`"`)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}
