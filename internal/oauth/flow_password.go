package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// passwordGrant is the resource owner password credentials grant (RFC 6749
// §4.3), for first-party clients only. Client, grant type and scope are
// settled before the password is looked at, and every failed attempt
// spends brute-force budget (account.Login), so the endpoint is neither a
// password oracle for other clients nor a fast one for this client.
func (h *Handler) passwordGrant(ctx context.Context, r *http.Request, f form, client *storage.Client) (*tokenResponse, *Error) {
	if !client.FirstParty || client.SelfRegistered {
		return nil, ErrUnauthorizedClient
	}
	username, password := f.get("username"), f.get("password")
	if username == "" || password == "" {
		return nil, ErrInvalidRequest.WithDescription("username and password are required")
	}
	// A scope the client may never have is refused before the password
	// is looked at; the policy decides the rest once the user is known.
	requested, ok := parseScope(f.get("scope"))
	if !ok || !subset(requested, client.Scopes) {
		return nil, ErrInvalidScope
	}
	resources, err := f.resources()
	if err != nil {
		return nil, err
	}
	// So are resources that could never be granted.
	g, err := h.claim(ctx, grantClaim{client: client, requested: requested, newGrant: true, resources: resources})
	if err != nil {
		return nil, err
	}
	if err := g.target(); err != nil {
		return nil, err
	}
	if g.user, err = h.login(ctx, r, username, password); err != nil {
		return nil, err
	}
	if err := h.passwordAlone(ctx, g.user); err != nil {
		return nil, err
	}
	g.heldAMR = []string{account.AMRPassword}
	dec, err := decideIssuance(g)
	if err != nil {
		return nil, err
	}
	in := issue{
		issuance: dec, authTime: h.now(),
		refresh: slices.Contains(client.GrantTypes, account.GrantRefreshToken),
	}
	resp, e := h.issueTokens(ctx, in)
	if e == nil && resp.IDToken != "" {
		// A first-party app that signs users in this way has no browser
		// session here: only this tells an administrator's sign-out
		// about it.
		h.rememberUserClient(ctx, in, time.Time{}, in.authTime)
	}
	return resp, e
}

// login checks the password through account.Login, the brute-force
// budgets included. An unknown user and a wrong password answer
// invalid_grant alike; a spent budget answers 429 with Retry-After (the
// token endpoint's writeError sets it from the *Error).
func (h *Handler) login(ctx context.Context, r *http.Request, username, password string) (*storage.User, *Error) {
	user, err := account.Login(ctx, h.limiter, h.passwords, h.checker, username, password, clientIP(r))
	var throttled *ratelimit.Throttled
	switch {
	case err == nil:
		return user, nil
	case errors.Is(err, account.ErrBadCredentials):
		return nil, ErrInvalidGrant.WithDescription("invalid username or password")
	case errors.Is(err, account.ErrCredentialsTooLong):
		return nil, ErrInvalidRequest.WithDescription("username or password is too long")
	case errors.As(err, &throttled):
		return nil, ErrTooManyRequests.retryAfter(throttled.RetryAfterSeconds()).Wrap(err)
	default:
		return nil, ErrServerError.Wrap(err)
	}
}

// errNeedsSecondFactor refuses the password grant for a user who must
// sign in with a second factor: the grant has no way to ask for one, so
// the client must send the person through the authorization endpoint.
var errNeedsSecondFactor = ErrInvalidGrant.WithDescription("the account needs a second factor: sign in through the authorization endpoint")

// passwordAlone refuses a user whom a password alone does not sign in
// (they have a second factor, or a role that requires one). It is asked
// only after the password was proved right, so it tells nothing to
// someone who does not know it.
func (h *Handler) passwordAlone(ctx context.Context, user *storage.User) *Error {
	if h.mfa == nil {
		return nil
	}
	required, err := h.mfa.Required(ctx, user)
	if err != nil {
		return ErrServerError.Wrap(err)
	}
	if required {
		return errNeedsSecondFactor
	}
	return nil
}
