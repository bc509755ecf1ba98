package oauth

import (
	"context"
	"net/http"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// clientCredentialsGrant (RFC 6749 §4.4) is for confidential clients acting
// for themselves: the token's subject is the client, there is no user and
// no refresh token (§4.4.3), and user-only scopes are never granted.
func (h *Handler) clientCredentialsGrant(ctx context.Context, _ *http.Request, f form, client *storage.Client) (*tokenResponse, *Error) {
	if client.Public {
		return nil, ErrUnauthorizedClient
	}
	requested, ok := parseScope(f.get("scope"))
	if !ok {
		return nil, ErrInvalidScope
	}
	resources, e := f.resources()
	if e != nil {
		return nil, e
	}
	dec, e := h.decide(ctx, grantClaim{client: client, requested: requested, newGrant: true, resources: resources})
	if e != nil {
		return nil, e
	}
	return h.issueTokens(ctx, issue{issuance: dec})
}
