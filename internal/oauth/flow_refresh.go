package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// refreshTokenGrant (RFC 6749 §6) rotates the refresh token on every use
// (RFC 9700 §4.14.2). The token must belong to the authenticated client,
// the scope may only narrow, and rotation, reuse detection and family
// revocation happen in one atomic storage step.
func (h *Handler) refreshTokenGrant(ctx context.Context, _ *http.Request, f form, client *storage.Client) (*tokenResponse, *Error) {
	presented := f.get("refresh_token")
	if presented == "" {
		return nil, ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	familyID, ok := refreshFamilyID(presented)
	if !ok {
		return nil, ErrInvalidGrant
	}
	fam, err := h.store.GetFamily(ctx, familyID)
	if err != nil {
		return nil, storageGrantError(err)
	}
	// A token of another client is refused before it is touched, so one
	// client cannot rotate (and so disable) another's grant.
	if fam.ClientID != client.ID || fam.Revoked {
		return nil, ErrInvalidGrant
	}
	scope := fam.Scope
	if requested := f.get("scope"); requested != "" {
		want, ok := parseScope(requested)
		if !ok || !subset(want, fam.Scope) {
			return nil, ErrInvalidScope
		}
		scope = want
	}
	// A client whose registration lost a scope loses it on its next refresh.
	scope = slices.DeleteFunc(slices.Clone(scope), func(s string) bool { return !slices.Contains(client.Scopes, s) })

	in := issue{client: client, scope: scope, authTime: fam.AuthTime}
	if fam.UserID != "" {
		user, err := h.store.GetUser(ctx, fam.UserID)
		if err != nil {
			return nil, storageGrantError(err)
		}
		in.user = user
	}
	return h.rotate(ctx, presented, fam.ID, in)
}

// rotate mints the new access token and refresh token, then swaps the
// family's current token for the new one.
func (h *Handler) rotate(ctx context.Context, presented, familyID string, in issue) (*tokenResponse, *Error) {
	now := h.now()
	in.accessJTI = secret.NewToken(16)
	in.accessExp = now.Add(h.cfg.AccessTokenTTL)
	access, e := h.mintAccess(in, now)
	if e != nil {
		return nil, e
	}
	successor := newRefreshToken(familyID)
	resp := &tokenResponse{
		AccessToken: access, TokenType: "Bearer", RefreshToken: successor,
		ExpiresIn: int64(h.cfg.AccessTokenTTL.Seconds()), Scope: joinScope(in.scope),
	}
	rot := storage.Rotation{
		FamilyID: familyID, PresentedHash: secret.SHA256(presented), NewHash: secret.SHA256(successor),
		AccessJTI: in.accessJTI, AccessExpiresAt: in.accessExp,
		Now: now, Sliding: h.cfg.RefreshSliding, Grace: h.cfg.RefreshGrace,
	}
	if h.cfg.RefreshGrace > 0 {
		sealed, err := sealForGrace(presented, resp)
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		rot.Successor = sealed
	}
	res, err := h.store.Rotate(ctx, rot)
	switch {
	case errors.Is(err, storage.ErrRefreshReused):
		// The family is revoked already; its newest access token goes too.
		if res != nil && res.Family.AccessJTI != "" {
			if err := h.store.RevokeJTI(ctx, res.Family.AccessJTI, res.Family.AccessExpiresAt); err != nil {
				h.log.ErrorContext(ctx, "oauth: deny access token of reused family", "family", familyID, "err", err)
			}
		}
		h.log.WarnContext(ctx, "oauth: refresh token reused; family revoked", "family", familyID, "client", in.client.ID)
		return nil, ErrInvalidGrant
	case err != nil:
		return nil, storageGrantError(err)
	case res.GraceSuccessor != nil:
		prev, err := openForGrace(presented, res.GraceSuccessor)
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		return prev, nil
	}
	return resp, nil
}

// storageGrantError maps storage's answers about a grant to invalid_grant
// and anything else to server_error.
func storageGrantError(err error) *Error {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRevoked) ||
		errors.Is(err, storage.ErrRefreshReused) || errors.Is(err, storage.ErrCodeReused) {
		return ErrInvalidGrant
	}
	return ErrServerError.Wrap(err)
}
