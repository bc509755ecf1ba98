package token

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// MaxIDTokenHintLen bounds an id_token_hint before it is decoded or
// verified: our ID tokens are a few hundred bytes to a few KiB.
const MaxIDTokenHintLen = 8 << 10

// ErrInvalidIDTokenHint wraps every reason VerifyIDTokenHint refuses a
// hint; the wrapped reason is for logs, not for the response.
var ErrInvalidIDTokenHint = errors.New("token: invalid id_token_hint")

// IDTokenHint is what a verified id_token_hint says.
type IDTokenHint struct {
	Subject   string
	Audience  []string
	SessionID string // empty if the token has no sid
}

// VerifyIDTokenHint checks that raw is an ID token that one of keys signed
// for issuer, as the authorization endpoint (OIDC Core §3.1.2.1) and the
// end-session endpoint (RP-Initiated Logout 1.0 §2) accept it, and returns
// its subject, audience and sid. Its lifetime is not checked: a hint is
// an ID token previously issued, and old ones turn up exactly when a
// person signs out or comes back. A hint signed by a key since removed
// from keys is refused, and one longer than MaxIDTokenHintLen is refused
// before it is decoded.
func VerifyIDTokenHint(keys KeyLookup, issuer, raw string) (*IDTokenHint, error) {
	if len(raw) > MaxIDTokenHintLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidIDTokenHint, MaxIDTokenHintLen)
	}
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods(Algorithms()), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// ID tokens are typ JWT; an access token (at+jwt) or a logout
		// token (logout+jwt) is no hint (cross-JWT confusion).
		if typ, _ := t.Header["typ"].(string); typ != "" && !strings.EqualFold(typ, "JWT") {
			return nil, fmt.Errorf("token: a %q token is not an id_token_hint", typ)
		}
		return publishedKey(keys, t)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidIDTokenHint, err)
	}
	if iss, _ := claims.GetIssuer(); iss != issuer {
		return nil, fmt.Errorf("%w: issuer %q", ErrInvalidIDTokenHint, iss)
	}
	sub, _ := claims.GetSubject()
	aud, err := claims.GetAudience()
	if sub == "" || err != nil || len(aud) == 0 {
		return nil, fmt.Errorf("%w: without subject or audience", ErrInvalidIDTokenHint)
	}
	sid, _ := claims["sid"].(string)
	return &IDTokenHint{Subject: sub, Audience: aud, SessionID: sid}, nil
}
