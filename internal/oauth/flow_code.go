package oauth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/go-oauth2/oauth2/v4"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// PKCEMethodS256 is the only code challenge method accepted (RFC 7636
// §4.2; "plain" protects nothing once the challenge is seen).
const PKCEMethodS256 = string(oauth2.CodeChallengeS256)

// RFC 7636 §4.1: 43 to 128 unreserved characters.
var verifierPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// authorizationCodeGrant redeems a code (RFC 6749 §4.1.3). The presenter
// is checked against the code before the code is used up, so whoever
// intercepts a code cannot burn it for the client it was issued to, nor
// have the rightful client's tokens revoked as a replay (DESIGN §9.4). The
// ids of the tokens to issue are fixed first and recorded by the same
// atomic step that marks the code used, so a replayed code finds and
// revokes exactly what the first redemption issued (RFC 6749 §4.1.2, RFC
// 9700 §4.2.4).
func (h *Handler) authorizationCodeGrant(ctx context.Context, _ *http.Request, f form, client *storage.Client) (*tokenResponse, *Error) {
	code := f.get("code")
	if code == "" {
		return nil, ErrInvalidRequest.WithDescription("code is required")
	}
	if len(code) > maxCodeLen {
		return nil, ErrInvalidGrant // not one of ours: answered as an unknown code
	}
	codeHash := secret.SHA256(code)
	ac, err := h.store.GetCode(ctx, codeHash)
	if err != nil {
		return nil, storageGrantError(err)
	}
	if e := checkCodePresenter(ctx, ac, client, f); e != nil {
		return nil, e
	}
	// What can refuse is decided before the claim, so that a lookup Redis
	// cannot answer leaves the code for the client's retry; a deleted user
	// is refused after it, so that a replay is still seen as one and
	// revokes what the first redemption issued.
	user, err := h.users.GetUser(ctx, ac.UserID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, storageGrantError(err)
	}
	resources, e := f.resources()
	if e != nil {
		return nil, e
	}
	var dec issuance
	if user != nil {
		g := grantClaim{client: client, user: user, held: ac.Scope, heldKey: ac.DPoPJKT,
			resources: resources, heldResources: ac.Resources, heldAMR: ac.AMR}
		if dec, e = h.decide(ctx, g); e != nil {
			return nil, e
		}
	}
	now := h.now()
	planned := storage.CodeRedemption{
		FamilyID:        secret.NewToken(16),
		AccessJTI:       secret.NewToken(16),
		AccessExpiresAt: now.Add(cmp.Or(dec.ttl, h.cfg.AccessTokenTTL)),
	}
	first, err := h.store.RedeemCode(ctx, codeHash, planned)
	if errors.Is(err, storage.ErrCodeReused) {
		h.revokeRedemption(ctx, first)
		return nil, ErrInvalidGrant
	}
	if err != nil {
		return nil, storageGrantError(err)
	}
	if user == nil {
		return nil, ErrInvalidGrant
	}
	in := issue{
		issuance: dec, authTime: ac.AuthTime, nonce: ac.Nonce, sid: ac.SID,
		refresh:  slices.Contains(dec.scope, ScopeOfflineAccess) && slices.Contains(client.GrantTypes, account.GrantRefreshToken),
		familyID: planned.FamilyID, accessJTI: planned.AccessJTI, accessExp: planned.AccessExpiresAt,
	}
	resp, e := h.issueTokens(ctx, in)
	if e == nil && resp.IDToken != "" && ac.SID != "" {
		h.rememberUserClient(ctx, in, ac.SessionExpiresAt, now)
	}
	return resp, e
}

// rememberUserClient notes, for the user, that a client taking logout
// tokens signed them in (got an ID token: through the browser session
// in.sid, or with the password grant, without one), for as long as the
// client's own session may last: until the latest expiry of what it
// received, the refresh family's absolute expiry when one was issued,
// else the ID token's or the browser session's (sessionExp; zero without
// one). An administrator who signs the user out then reaches the client
// even when no oauth2d browser session of theirs is left
// (backchannel.Logouts.UserSignedOut), with the ended session's sid when
// the client requires one (a sign-in without a session is then not
// remembered). The user has just authenticated; a failure
// costs the client that logout token, not the user their sign-in: it is
// logged.
func (h *Handler) rememberUserClient(ctx context.Context, in issue, sessionExp, now time.Time) {
	if in.client.BackchannelLogoutURI == "" {
		return
	}
	until := now.Add(h.cfg.IDTokenTTL)
	if sessionExp.After(until) {
		until = sessionExp
	}
	if fam := now.Add(h.cfg.RefreshAbsolute); in.refresh && fam.After(until) {
		until = fam
	}
	// Only a client that requires a sid is remembered per session: one that
	// does not is told with sub alone, so one entry covers all its
	// sign-ins, and frequent sign-ins to it cannot crowd other clients out
	// of the user's MaxUserClients entries.
	sid := ""
	if in.client.BackchannelLogoutSessionRequired {
		if in.sid == "" {
			return // it could never be told of this sign-in
		}
		sid = in.sid
	}
	if err := h.store.RememberUserClient(ctx, in.user.ID, in.client.ID, sid, until); err != nil {
		h.log.WarnContext(ctx, "oauth: remember the user's client; an administrator's sign-out may not reach it",
			"client_id", in.client.ID, "err", err)
	}
}

// checkCodePresenter makes every check that decides whether the token
// request may use the code up: the client it was issued to (not a
// deleted one of the same id), the same redirect_uri, the PKCE verifier
// and the DPoP key it is bound to.
func checkCodePresenter(ctx context.Context, ac *storage.AuthCode, client *storage.Client, f form) *Error {
	redirect := f.get("redirect_uri")
	if ac.ClientID != client.ID || !client.OwnsGrant(ac.ClientGeneration) ||
		ac.RedirectURI != redirect && !(ac.RedirectURIOmitted && redirect == "") {
		return ErrInvalidGrant
	}
	if e := checkPKCE(ac, client, f.get("code_verifier")); e != nil {
		return e
	}
	return checkCodeBinding(ctx, ac)
}

// checkPKCE verifies code_verifier against the stored S256 challenge. A
// verifier without a challenge is refused too (RFC 9700 §2.1.1), and a
// public client's code must have had a challenge.
func checkPKCE(ac *storage.AuthCode, client *storage.Client, verifier string) *Error {
	if ac.CodeChallenge == "" {
		if verifier != "" || client.Public {
			return ErrInvalidGrant
		}
		return nil
	}
	if ac.CodeChallengeMethod != PKCEMethodS256 || !verifierPattern.MatchString(verifier) {
		return ErrInvalidGrant
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(ac.CodeChallenge)) != 1 {
		return ErrInvalidGrant
	}
	return nil
}

// revokeRedemption undoes what the first redemption of a replayed code
// issued: its refresh-token family and its access token.
func (h *Handler) revokeRedemption(ctx context.Context, first *storage.CodeRedemption) {
	if first == nil {
		return
	}
	h.log.WarnContext(ctx, "oauth: authorization code replayed; revoking its tokens", "family", first.FamilyID)
	if first.FamilyID != "" {
		if _, err := h.store.RevokeFamily(ctx, first.FamilyID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.log.ErrorContext(ctx, "oauth: revoke family of replayed code", "err", err)
		}
	}
	if first.AccessJTI != "" {
		if err := h.store.RevokeJTI(ctx, first.AccessJTI, first.AccessExpiresAt); err != nil {
			h.log.ErrorContext(ctx, "oauth: deny access token of replayed code", "err", err)
		}
	}
}
