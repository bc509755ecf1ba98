package oauth

import (
	"context"
	"net/http"
	"slices"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// passwordGrant is the resource owner password credentials grant (RFC 6749
// §4.3), for first-party clients only. Client, grant type and scope are
// settled before the password is looked at, and every attempt spends rate
// budget before it is checked, so the endpoint is neither a password oracle
// for other clients nor a fast one for this client.
func (h *Handler) passwordGrant(ctx context.Context, r *http.Request, f form, client *storage.Client) (*tokenResponse, *Error) {
	if !client.FirstParty {
		return nil, ErrUnauthorizedClient
	}
	username, password := f.get("username"), f.get("password")
	if username == "" || password == "" {
		return nil, ErrInvalidRequest.WithDescription("username and password are required")
	}
	requested, ok := parseScope(f.get("scope"))
	if !ok || !subset(requested, client.Scopes) {
		return nil, ErrInvalidScope
	}
	if h.limiter != nil {
		allowed, _, err := h.limiter.Allow(ctx, username, clientIP(r))
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		if !allowed {
			return nil, ErrTooManyRequests
		}
	}
	user, err := h.checkPassword(ctx, username, password)
	if err != nil {
		return nil, err
	}
	scope, err := resolveScope(f.get("scope"), client.Scopes, user.Roles, true)
	if err != nil {
		return nil, err
	}
	return h.issueTokens(ctx, issue{
		client: client, user: user, scope: scope, authTime: h.now(),
		refresh: slices.Contains(client.GrantTypes, account.GrantRefreshToken),
	})
}

// checkPassword answers invalid_grant alike for an unknown user and a wrong
// password.
func (h *Handler) checkPassword(ctx context.Context, username, password string) (*storage.User, *Error) {
	user, ok, err := account.CheckPassword(ctx, h.passwords, h.checker, username, password)
	if err != nil {
		return nil, ErrServerError.Wrap(err)
	}
	if !ok {
		return nil, ErrInvalidGrant.WithDescription("invalid username or password")
	}
	return user, nil
}
