package oauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Revoke serves POST /oauth2/revoke (RFC 7009). A refresh token revokes its
// whole family (§2.1 allows it, RFC 9700 wants it); an access token's jti
// is denied until the token would have expired. A token that is unknown,
// expired or malformed is answered 200 like any other (§2.2), but a valid
// token of another client is refused (§2.1).
func (h *Handler) Revoke(w http.ResponseWriter, r *http.Request) {
	if err := h.revoke(w, r); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) *Error {
	f, client, err := h.authenticatedForm(w, r)
	if err != nil {
		return err
	}
	raw := f.get("token")
	if raw == "" {
		return ErrInvalidRequest.WithDescription("token is required")
	}
	// token_type_hint only orders the lookups (§2.1); both forms are tried.
	if familyID, ok := refreshFamilyID(raw); ok {
		return h.revokeRefresh(r.Context(), client, familyID, raw)
	}
	claims, verr := h.verifier.VerifyAccess(raw)
	if verr != nil {
		return nil // invalid or expired: nothing left to revoke
	}
	if claims.ClientID != client.ID {
		return ErrUnauthorizedClient.WithDescription("the token was issued to another client")
	}
	if err := h.store.RevokeJTI(r.Context(), claims.JTI, claims.ExpiresAt); err != nil {
		return ErrServerError.Wrap(err)
	}
	audit.Emit(r.Context(), audit.Event{Event: audit.TokenRevoked, Outcome: audit.Success, Actor: client.ID, Subject: claims.Subject, Client: client.ID, JTI: claims.JTI})
	return nil
}

func (h *Handler) revokeRefresh(ctx context.Context, client *storage.Client, familyID, raw string) *Error {
	fam, err := h.store.CheckRefresh(ctx, familyID, secret.SHA256(raw))
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRevoked) {
		return nil
	}
	if err != nil {
		return ErrServerError.Wrap(err)
	}
	if fam.ClientID != client.ID {
		return ErrUnauthorizedClient.WithDescription("the token was issued to another client")
	}
	revoked, err := h.store.RevokeFamily(ctx, familyID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return ErrServerError.Wrap(err)
	}
	if revoked != nil && revoked.AccessJTI != "" {
		if err := h.store.RevokeJTI(ctx, revoked.AccessJTI, revoked.AccessExpiresAt); err != nil {
			return ErrServerError.Wrap(err)
		}
	}
	audit.Emit(ctx, audit.Event{Event: audit.TokenRevoked, Outcome: audit.Success, Actor: client.ID, Subject: fam.UserID, Client: client.ID, Resource: "refresh_token_family:" + familyID})
	return nil
}

// authenticatedForm reads the body and authenticates the client, as the
// revocation and introspection endpoints both require.
func (h *Handler) authenticatedForm(w http.ResponseWriter, r *http.Request) (form, *storage.Client, *Error) {
	f, err := readForm(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		return nil, nil, err
	}
	cc, err := readClientCredentials(r, f)
	if err != nil {
		return nil, nil, err
	}
	client, err := h.clients.authenticate(r.Context(), cc)
	if err != nil {
		return nil, nil, err
	}
	return f, client, nil
}
