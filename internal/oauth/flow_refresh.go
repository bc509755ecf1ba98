package oauth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// refreshTokenGrant (RFC 6749 §6) rotates the refresh token on every use
// (RFC 9700 §4.14.2). One atomic storage step checks that the token is the
// family's current one (or the previous one inside the grace window, or
// this very request delivered twice), that the family belongs to the
// authenticated client and to the proven DPoP key, and swaps in the
// successor; a rotated-out token revokes the family instead. A public
// client's unbound family is bound to the key of its first refresh that
// carries a proof (RFC 9449 §5). Only then is the user looked up (a
// deleted user ends the family), and the issuance policy decides what the
// access token carries, on every one of those branches alike.
func (h *Handler) refreshTokenGrant(ctx context.Context, _ *http.Request, f form, client *storage.Client) (*tokenResponse, *Error) {
	presented := f.get("refresh_token")
	if presented == "" {
		return nil, ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	familyID, ok := refreshFamilyID(presented)
	if !ok {
		return nil, ErrInvalidGrant
	}
	requested, ok := parseScope(f.get("scope"))
	if !ok {
		return nil, ErrInvalidScope
	}
	resources, e := f.resources()
	if e != nil {
		return nil, e
	}
	// What the policy refuses from the request alone is refused before
	// the rotation: a refusal after it would cost the client its family.
	g, e := h.claim(ctx, grantClaim{client: client, requested: requested, resources: resources})
	if e != nil {
		return nil, e
	}
	if e := g.target(); e != nil {
		return nil, e
	}
	now := h.now()
	successor := newRefreshToken(familyID)
	rot := storage.Rotation{
		FamilyID: familyID, PresentedHash: secret.SHA256(presented), NewHash: secret.SHA256(successor),
		ClientID: client.ID, ClientGeneration: client.Generation, Scope: requested, Resources: resources,
		AccessJTI: secret.NewToken(16), AccessExpiresAt: now.Add(h.cfg.AccessTokenTTL),
		Now: now, Sliding: h.cfg.RefreshSliding, Grace: h.cfg.RefreshGrace,
		JKT: proofKey(ctx), BindKey: client.Public,
	}
	if h.cfg.RefreshGrace > 0 {
		// Only a grace answer uses these: the sealed successor and the jti
		// of its own access token.
		rot.GraceAccessJTI = secret.NewToken(16)
		sealed, err := sealForGrace(presented, successor)
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		rot.Successor = sealed
	}
	res, err := h.store.Rotate(ctx, rot)
	if err != nil {
		return nil, h.rotationError(ctx, familyID, client, res, err)
	}
	accessJTI := rot.AccessJTI
	if res.GraceSuccessor != nil {
		// The same successor as the concurrent request that rotated, with
		// an access token of this response's own.
		if successor, err = openForGrace(presented, res.GraceSuccessor); err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		accessJTI = rot.GraceAccessJTI
	}
	var user *storage.User
	if res.Family.UserID != "" {
		user, err = h.users.GetUser(ctx, res.Family.UserID)
		if errors.Is(err, storage.ErrNotFound) {
			h.revokeFamilyOf(ctx, familyID, "user deleted")
			return nil, ErrInvalidGrant
		}
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
	}
	g.user, g.held, g.heldKey, g.heldResources, g.heldAMR = user, res.Family.Scope, res.Family.JKT, res.Family.Resources, res.Family.AMR
	dec, e := decideIssuance(g)
	if e != nil {
		return nil, e
	}
	// The family remembers the longest lifetime its access token can have,
	// for the deny list; a resource may set a shorter one.
	in := issue{issuance: dec, authTime: res.Family.AuthTime, accessJTI: accessJTI, accessExp: rot.AccessExpiresAt}
	if short := now.Add(dec.ttl); dec.ttl > 0 && short.Before(in.accessExp) {
		in.accessExp = short
	}
	access, e := h.mintAccess(ctx, in, now)
	if e != nil {
		return nil, e
	}
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", RefreshToken: successor,
		ExpiresIn: int64(in.accessExp.Sub(now) / time.Second), Scope: joinScope(in.scope),
	}, nil
}

// rotationError maps a failed rotation to the client's answer. On reuse the
// family is already revoked; its newest access token is denied too.
func (h *Handler) rotationError(ctx context.Context, familyID string, client *storage.Client, res *storage.RotationResult, err error) *Error {
	switch {
	case errors.Is(err, storage.ErrScopeExceedsGrant):
		return ErrInvalidScope
	case errors.Is(err, storage.ErrTargetExceedsGrant):
		return ErrInvalidTarget
	case errors.Is(err, storage.ErrRefreshReused):
		if res != nil {
			newest := append([]storage.AccessRef{{JTI: res.Family.AccessJTI, ExpiresAt: res.Family.AccessExpiresAt}}, res.GraceAccess...)
			for _, a := range newest {
				if a.JTI == "" {
					continue
				}
				if err := h.store.RevokeJTI(ctx, a.JTI, a.ExpiresAt); err != nil {
					h.log.ErrorContext(ctx, "oauth: deny access token of reused family", "family", familyID, "err", err)
				}
			}
		}
		h.log.WarnContext(ctx, "oauth: refresh token reused; family revoked", "family", familyID, "client", client.ID)
		audit.Emit(ctx, audit.Event{Event: audit.RefreshReuse, Outcome: audit.Failure, Actor: client.ID, Client: client.ID, Resource: "refresh_token_family:" + familyID, Reason: "family revoked"})
		return ErrInvalidGrant
	}
	return storageGrantError(err)
}

func (h *Handler) revokeFamilyOf(ctx context.Context, familyID, why string) {
	if _, err := h.store.RevokeFamily(ctx, familyID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.log.ErrorContext(ctx, "oauth: revoke family", "family", familyID, "why", why, "err", err)
	}
}

// storageGrantError maps storage's answers about a grant to invalid_grant
// and anything else to server_error.
func storageGrantError(err error) *Error {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRevoked) ||
		errors.Is(err, storage.ErrRefreshReused) || errors.Is(err, storage.ErrCodeReused) ||
		errors.Is(err, storage.ErrProofKeyMismatch) {
		return ErrInvalidGrant
	}
	return ErrServerError.Wrap(err)
}
