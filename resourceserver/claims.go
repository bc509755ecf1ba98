package resourceserver

import (
	"context"
	"time"
)

// Claims are the verified claims of an RFC 9068 access token. Times are
// whole seconds in UTC, as on the wire. Claims the middleware hands out
// are shared by every request bearing the same token: treat them as
// read-only.
type Claims struct {
	Issuer    string
	Subject   string // the user id, or the client id for client credentials
	Audience  []string
	ClientID  string
	Scope     []string // the "scope" claim, space-separated on the wire
	Roles     []string
	JTI       string
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
	AuthTime  time.Time // zero when the token does not say (RFC 9470 auth_time)
	// ACR is the authentication context class the user signed in with
	// (RFC 9470 acr); empty when the token does not say.
	ACR string
	// JKT is cnf.jkt (RFC 9449 §6.1): the RFC 7638 thumbprint of the DPoP
	// key the token is bound to; empty for a bearer token.
	JKT string
}

// Verifier checks an access token's signature and claims (RFC 9068 §4)
// and returns its claims, or an error wrapping ErrInvalidToken. The
// JWKSVerifier is one; an authorization server that holds its keys may
// plug its own.
type Verifier interface {
	VerifyAccess(raw string) (*Claims, error)
}

type claimsKey struct{}

// verified is what the middleware stores: the claims, and which Resource
// verified them, so that another Resource (another audience) on the same
// route verifies the token again rather than trust them.
type verified struct {
	by     *Resource
	claims *Claims
}

// ClaimsFromContext returns the claims the middleware stored in the
// request's context.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	v, ok := ctx.Value(claimsKey{}).(*verified)
	if !ok {
		return nil, false
	}
	return v.claims, true
}

// ContextWithClaims returns ctx carrying c as the middleware stores it,
// for tests of handlers that run without a token. The middleware itself
// does not take them for verified.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, &verified{claims: c})
}

// verifiedBy returns the claims rs stored in ctx.
func verifiedBy(ctx context.Context, rs *Resource) (*Claims, bool) {
	v, ok := ctx.Value(claimsKey{}).(*verified)
	if !ok || v.by != rs {
		return nil, false
	}
	return v.claims, true
}
