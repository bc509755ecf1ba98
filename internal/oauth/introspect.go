package oauth

import (
	"errors"
	"net/http"
	"slices"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
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
// {"active": false} and nothing more (§2.2), and so is a live token the
// caller has no business with (§4: no scanning for valid tokens, no
// learning whose they are): see mayIntrospectAccess and
// mayIntrospectRefresh.
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
		if !mayIntrospectRefresh(client, fam) || !client.OwnsGrant(fam.ClientGeneration) {
			return &introspection{}, nil
		}
		return &introspection{
			Active: true, Scope: joinScope(fam.Scope), ClientID: fam.ClientID, Sub: fam.UserID,
			TokenType: "refresh_token", Exp: fam.ExpiresAt.Unix(), Iat: fam.CreatedAt.Unix(), Iss: h.cfg.Issuer,
		}, nil
	}
	claims, verr := h.verifier.VerifyAccess(raw)
	if verr != nil || !mayIntrospectAccess(client, claims) {
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

// mayIntrospectAccess: an access token's own client may ask about it, and
// so may a resource server that the token is for, that is a client
// registered with an introspection audience the token's aud names.
// Everyone else is told what an unknown token would tell them.
func mayIntrospectAccess(client *storage.Client, claims *token.AccessClaims) bool {
	if claims.ClientID == client.ID {
		return true
	}
	return slices.ContainsFunc(claims.Audience, func(aud string) bool {
		return slices.Contains(client.IntrospectionAudiences, aud)
	})
}

// mayIntrospectRefresh: a refresh token is presented only to the token
// endpoint, by its own client, so no resource server has a reason to
// see one; only its client may ask about it.
func mayIntrospectRefresh(client *storage.Client, fam *storage.RefreshFamily) bool {
	return fam.ClientID == client.ID
}
