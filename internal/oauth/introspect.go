package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

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
// mayIntrospectRefresh. A caller that accepts
// application/token-introspection+jwt gets the same answer signed (RFC
// 9701); errors stay plain JSON (RFC 7662 §2.3).
func (h *Handler) Introspect(w http.ResponseWriter, r *http.Request) {
	resp, client, err := h.introspect(w, r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if !acceptsSignedIntrospection(r.Header.Values("Accept")) {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	signed, serr := h.signIntrospection(r.Context(), client.ID, resp)
	if serr != nil {
		h.writeError(w, r, ErrServerError.Wrap(serr))
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", SignedIntrospectionMediaType)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, signed)
}

// signIntrospection is resp as an RFC 9701 JWT for the client that asked
// (its aud).
func (h *Handler) signIntrospection(ctx context.Context, clientID string, resp *introspection) (string, error) {
	body, err := json.Marshal(resp)
	if err != nil {
		return "", err
	}
	return h.minter.MintIntrospection(ctx, clientID, body)
}

// SignedIntrospectionMediaType asks for, and labels, a signed
// introspection answer (RFC 9701 §4, §5).
const SignedIntrospectionMediaType = "application/token-introspection+jwt"

// acceptsSignedIntrospection reports whether the Accept header lists
// SignedIntrospectionMediaType (with any q but 0). Nothing else asks for
// it: no Accept, */*, application/json and application/* keep the plain
// JSON of RFC 7662, which every client reads.
func acceptsSignedIntrospection(accept []string) bool {
	for _, header := range accept {
		for _, mediaRange := range strings.Split(header, ",") {
			mediaType, params, _ := strings.Cut(mediaRange, ";")
			if !strings.EqualFold(strings.TrimSpace(mediaType), SignedIntrospectionMediaType) {
				continue
			}
			if !refusedByQuality(params) {
				return true
			}
		}
	}
	return false
}

// refusedByQuality reports whether media-type parameters carry q=0, the
// client's way of saying "not this" (RFC 9110 §12.4.2).
func refusedByQuality(params string) bool {
	for _, p := range strings.Split(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// introspect answers for the client that asked, which it returns too.
func (h *Handler) introspect(w http.ResponseWriter, r *http.Request) (*introspection, *storage.Client, *Error) {
	f, client, err := h.authenticatedForm(w, r)
	if err != nil {
		return nil, nil, err
	}
	if client.Public {
		return nil, nil, ErrUnauthorizedClient.WithDescription("public clients cannot introspect tokens")
	}
	raw := f.get("token")
	if raw == "" {
		return nil, nil, ErrInvalidRequest.WithDescription("token is required")
	}
	out, err := h.introspectToken(r.Context(), client, raw)
	return out, client, err
}

// introspectToken is the RFC 7662 §2.2 answer about raw for client.
func (h *Handler) introspectToken(ctx context.Context, client *storage.Client, raw string) (*introspection, *Error) {
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
