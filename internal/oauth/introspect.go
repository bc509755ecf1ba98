package oauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// introspection is the RFC 7662 §2.2 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	Cnf       *cnf     `json:"cnf,omitempty"` // RFC 9449 §6.2: the DPoP key a token is bound to
}

// Introspect serves POST /oauth2/introspect (RFC 7662). Only confidential
// clients may ask (§2.1: the endpoint must be protected, and a public
// client's id proves nothing). Anything invalid, expired or revoked is
// {"active": false} and nothing more (§2.2).
func (h *Handler) Introspect(w http.ResponseWriter, r *http.Request) {
	resp, err := h.introspect(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) introspect(w http.ResponseWriter, r *http.Request) (*introspection, *Error) {
	f, client, err := h.authenticatedForm(w, r)
	if err != nil {
		return nil, err
	}
	if client.Public {
		return nil, ErrUnauthorizedClient.WithDescription("public clients cannot introspect tokens")
	}
	raw := f.get("token")
	if raw == "" {
		return nil, ErrInvalidRequest.WithDescription("token is required")
	}
	ctx := r.Context()
	if familyID, ok := refreshFamilyID(raw); ok {
		fam, err := h.store.CheckRefresh(ctx, familyID, secret.SHA256(raw))
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRevoked) {
			return &introspection{}, nil
		}
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		if live, e := h.familyClientLive(ctx, fam, client); e != nil || !live {
			return &introspection{}, e
		}
		return &introspection{
			Active: true, Scope: joinScope(fam.Scope), ClientID: fam.ClientID, Sub: fam.UserID,
			TokenType: "refresh_token", Exp: fam.ExpiresAt.Unix(), Iat: fam.CreatedAt.Unix(), Iss: h.cfg.Issuer,
		}, nil
	}
	claims, verr := h.verifier.VerifyAccess(raw)
	if verr != nil {
		return &introspection{}, nil
	}
	revoked, rerr := h.store.IsAccessRevoked(ctx, claims.JTI, claims.Subject, claims.ClientID, claims.IssuedAt)
	if rerr != nil {
		return nil, ErrServerError.Wrap(rerr)
	}
	if revoked {
		return &introspection{}, nil
	}
	out := &introspection{
		Active: true, Scope: joinScope(claims.Scope), ClientID: claims.ClientID, TokenType: "Bearer",
		Exp: claims.ExpiresAt.Unix(), Iat: claims.IssuedAt.Unix(), Nbf: claims.NotBefore.Unix(),
		Sub: claims.Subject, Aud: claims.Audience, Iss: claims.Issuer, Jti: claims.JTI, Roles: claims.Roles,
	}
	if claims.JKT != "" {
		out.TokenType, out.Cnf = TokenTypeDPoP, &cnf{JKT: claims.JKT}
	}
	if claims.Subject != claims.ClientID || len(claims.Roles) > 0 {
		if u, err := h.users.GetUser(ctx, claims.Subject); err == nil {
			out.Username = u.Username
		}
	}
	return out, nil
}

// familyClientLive reports whether the family's client is still the
// registration it was granted to: a family of a deleted client, or of a
// deleted one whose id was registered again, is dead (RFC 6749 §10.4).
// asking is the authenticated client, looked up already.
func (h *Handler) familyClientLive(ctx context.Context, fam *storage.RefreshFamily, asking *storage.Client) (bool, *Error) {
	owner := asking
	if fam.ClientID != asking.ID {
		var err error
		owner, err = h.clients.clients.GetClient(ctx, fam.ClientID)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, ErrServerError.Wrap(err)
		}
	}
	return owner.OwnsGrant(fam.ClientGeneration), nil
}
