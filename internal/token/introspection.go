package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// IntrospectionTokenType is the JWT typ header of a signed introspection
// response (RFC 9701 §5), so that it cannot pass for an access, ID or
// logout token.
const IntrospectionTokenType = "token-introspection+jwt"

// introspectionPayload is the wire form of RFC 9701 §5: no sub and no
// exp at the top, so nothing reads the answer as an access token.
type introspectionPayload struct {
	Iss                string          `json:"iss"`
	Aud                string          `json:"aud"`
	Iat                int64           `json:"iat"`
	TokenIntrospection json.RawMessage `json:"token_introspection"`
}

// MintIntrospection signs an introspection response (header typ
// token-introspection+jwt) for audience, the client that asked: iss, aud,
// iat and introspection, the RFC 7662 §2.2 JSON object, as the
// token_introspection claim. It is signed with the ID token key: like an
// ID token it goes to a client, whose library verifies our ID tokens
// already, and RFC 9701 §6's default algorithm (RS256) is the ID token
// default too.
func (m *Minter) MintIntrospection(ctx context.Context, audience string, introspection json.RawMessage) (string, error) {
	if audience == "" || !utf8.ValidString(audience) {
		return "", errors.New("token: an introspection response needs a valid audience")
	}
	if len(introspection) == 0 || introspection[0] != '{' { // invalid JSON fails the Marshal below
		return "", errors.New("token: an introspection response must be a JSON object")
	}
	key, iat, err := m.idTokenKey(time.Time{})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(&introspectionPayload{Iss: m.issuer, Aud: audience, Iat: iat.Unix(), TokenIntrospection: introspection})
	if err != nil {
		return "", fmt.Errorf("token: marshal introspection response: %w", err)
	}
	return key.sign(ctx, "introspection", key.tiHeader, payload)
}
