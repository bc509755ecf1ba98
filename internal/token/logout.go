package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Logout token vocabulary (OIDC Back-Channel Logout 1.0 §2.4).
const (
	// LogoutTokenType is the JWT typ header of a logout token, so that it
	// cannot pass for an ID or access token (§4.1, cross-JWT confusion).
	LogoutTokenType = "logout+jwt"
	// BackchannelLogoutEvent is the one member of its events claim.
	BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
	// DefaultLogoutTokenLifetime: §2.4 recommends at most two minutes.
	DefaultLogoutTokenLifetime = 2 * time.Minute
)

// LogoutClaims is what the caller decides about a logout token.
type LogoutClaims struct {
	Audience  string        // the client id
	Subject   string        // the user; may be empty when SessionID is set
	SessionID string        // the session's sid; may be empty when Subject is set
	JTI       string        // required: a receiver may refuse a jti it has seen
	IssuedAt  time.Time     // zero: the Minter's now
	Lifetime  time.Duration // zero: DefaultLogoutTokenLifetime
}

type logoutPayload struct {
	Iss    string                    `json:"iss"`
	Aud    string                    `json:"aud"`
	Iat    int64                     `json:"iat"`
	Exp    int64                     `json:"exp"`
	Jti    string                    `json:"jti"`
	Events map[string]map[string]any `json:"events"`
	Sub    string                    `json:"sub,omitempty"`
	Sid    string                    `json:"sid,omitempty"`
}

// MintLogout signs a logout token (header typ logout+jwt) with the ID
// token key: iss, aud, iat, exp, jti, the back-channel logout event, and
// sub and/or sid; never a nonce (§2.4).
func (m *Minter) MintLogout(ctx context.Context, c LogoutClaims) (string, error) {
	if c.Audience == "" || c.JTI == "" || (c.Subject == "" && c.SessionID == "") {
		return "", errors.New("token: a logout token needs an audience, a jti and a subject or sid")
	}
	key, iat, err := m.idTokenKey(c.IssuedAt)
	if err != nil {
		return "", err
	}
	life := c.Lifetime
	if life <= 0 {
		life = DefaultLogoutTokenLifetime
	}
	payload, err := json.Marshal(&logoutPayload{
		Iss: m.issuer, Aud: c.Audience, Iat: iat.Unix(), Exp: iat.Add(life).Unix(), Jti: c.JTI,
		Events: map[string]map[string]any{BackchannelLogoutEvent: {}}, Sub: c.Subject, Sid: c.SessionID,
	})
	if err != nil {
		return "", fmt.Errorf("token: marshal logout token claims: %w", err)
	}
	return key.sign(ctx, "logout", key.loHeader, payload)
}
