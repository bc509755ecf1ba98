package oauth

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// A grantHandler runs one grant for an authenticated client that is
// registered for it.
type grantHandler func(ctx context.Context, r *http.Request, f form, client *storage.Client) (*tokenResponse, *Error)

// tokenResponse is RFC 6749 §5.1 plus OIDC Core §3.1.3.3's id_token.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// Token serves POST /oauth2/token. The order of checks is the point: the
// request is parsed, the client authenticated and its right to the grant
// type checked before any grant is looked at, so that nothing about users
// or tokens can be learned without valid client credentials.
func (h *Handler) Token(w http.ResponseWriter, r *http.Request) {
	grantType := "unknown" // a label for metrics: only grants we implement are named
	resp, err := h.token(w, r, &grantType)
	outcome := "ok"
	if err != nil {
		outcome = err.Code
		h.writeError(w, r, err)
	} else {
		writeJSON(w, http.StatusOK, resp)
	}
	if h.observe != nil {
		h.observe(grantType, outcome)
	}
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request, grantType *string) (*tokenResponse, *Error) {
	f, err := readForm(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	gt := f.get("grant_type")
	if gt == "" {
		return nil, ErrInvalidRequest.WithDescription("grant_type is required")
	}
	grant, implemented := h.grants[gt]
	if !implemented {
		return nil, ErrUnsupportedGrantType
	}
	*grantType = gt
	cc, err := readClientCredentials(r, f)
	if err != nil {
		return nil, err
	}
	client, err := h.clients.authenticate(r.Context(), cc)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(client.GrantTypes, gt) {
		return nil, ErrUnauthorizedClient
	}
	ctx, err := h.tokenProof(w, r, client, h.proofs)
	if err != nil {
		return nil, err
	}
	ctx = audit.With(ctx, audit.Event{Client: client.ID, GrantType: gt})
	resp, err := grant(ctx, r, f, client)
	if err == nil && proofKey(ctx) != "" {
		resp.TokenType = TokenTypeDPoP
	}
	return resp, err
}

// issue is what a grant hands to issueTokens: the policy's decision
// (decideIssuance) and what else the tokens record.
type issue struct {
	issuance
	authTime time.Time
	nonce    string
	sid      string // the browser session, for the ID token's sid
	refresh  bool   // also start a refresh-token family
	// Set by the code grant, which fixes these ids before it redeems the
	// code so that a replay can revoke them (RFC 6749 §4.1.2).
	familyID  string
	accessJTI string
	accessExp time.Time
}

// issueTokens mints the access token and, as asked, a new refresh-token
// family and an ID token.
func (h *Handler) issueTokens(ctx context.Context, in issue) (*tokenResponse, *Error) {
	now := h.now()
	if in.accessJTI == "" {
		in.accessJTI = secret.NewToken(16)
		in.accessExp = now.Add(cmp.Or(in.ttl, h.cfg.AccessTokenTTL))
	}
	access, err := h.mintAccess(ctx, in, now)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{
		AccessToken: access,
		TokenType:   "Bearer",
		ExpiresIn:   int64(in.accessExp.Sub(now).Round(time.Second) / time.Second),
		Scope:       joinScope(in.scope),
	}
	if in.refresh {
		if in.familyID == "" {
			in.familyID = secret.NewToken(16)
		}
		raw := newRefreshToken(in.familyID)
		fam := storage.RefreshFamily{
			ID: in.familyID, ClientID: in.client.ID, Scope: in.grantScope, Resources: in.grantResources, AuthTime: in.authTime,
			CreatedAt: now, ExpiresAt: now.Add(h.cfg.RefreshAbsolute),
			AccessJTI: in.accessJTI, AccessExpiresAt: in.accessExp, ClientGeneration: in.client.Generation,
			AMR: in.amr,
		}
		if in.user != nil {
			fam.UserID = in.user.ID
		}
		if in.client.Public {
			fam.JKT = in.jkt // RFC 9449 §5: confidential clients' families stay unbound
		}
		if err := h.store.CreateFamily(ctx, storage.NewRefresh{Family: fam, TokenHash: secret.SHA256(raw), Sliding: h.cfg.RefreshSliding}); err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		resp.RefreshToken = raw
	}
	if in.user != nil && slices.Contains(in.scope, ScopeOpenID) {
		idt, err := h.minter.MintIDToken(ctx, token.IDClaims{
			Subject: in.user.ID, Audience: in.client.ID, Nonce: in.nonce, AuthTime: in.authTime,
			AccessToken: access, IssuedAt: now, Lifetime: h.cfg.IDTokenTTL, SessionID: in.sid, ACR: in.acr, AMR: in.amr,
			Extra: profileClaims(in.user, in.scope),
		})
		if err != nil {
			return nil, ErrServerError.Wrap(err)
		}
		resp.IDToken = idt
	}
	return resp, nil
}

func (h *Handler) mintAccess(ctx context.Context, in issue, now time.Time) (string, *Error) {
	ai := token.AccessRequest{
		Subject: in.client.ID, ClientID: in.client.ID, Scope: in.scope, Audience: in.audience, JTI: in.accessJTI,
		IssuedAt: now, Lifetime: in.accessExp.Sub(now), AuthTime: in.authTime, JKT: in.jkt,
	}
	if in.user != nil {
		ai.Subject, ai.Roles, ai.ACR, ai.AMR = in.user.ID, in.roles, in.acr, in.amr
	}
	raw, claims, err := h.minter.MintAccess(ctx, ai)
	if err != nil {
		return "", ErrServerError.Wrap(err)
	}
	// What the token says, as minted: its aud is the Minter's own when
	// the issuance named none.
	audit.Emit(ctx, audit.Event{Event: audit.TokenIssued, Outcome: audit.Success, Actor: in.client.ID, Subject: claims.Subject,
		Client: claims.ClientID, Scope: audit.Join(claims.Scope), Audience: audit.Join(claims.Audience), JTI: claims.JTI})
	return raw, nil
}

// profileClaims are the OIDC standard claims a user's scopes ask for
// (OIDC Core §5.4).
func profileClaims(u *storage.User, scope []string) map[string]any {
	claims := map[string]any{}
	if slices.Contains(scope, "profile") {
		claims["preferred_username"] = u.Username
		if u.Name != "" {
			claims["name"] = u.Name
		}
	}
	if slices.Contains(scope, "email") && u.Email != "" {
		claims["email"] = u.Email
		claims["email_verified"] = u.EmailVerified
	}
	return claims
}
