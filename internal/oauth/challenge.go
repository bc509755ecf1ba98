package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The authorization challenge endpoint of OAuth 2.0 for First-Party
// Applications, draft-ietf-oauth-first-party-apps-04: a first-party app
// signs its user in without a browser and gets an authorization code,
// which it redeems at the token endpoint with its PKCE verifier (the code
// grant, unchanged). A password is checked as the password grant checks
// it; a user who must prove a second factor gets insufficient_authorization
// and an auth_session, and proves a TOTP code or a recovery code with it.
// Passkeys are not offered here: a user who has only those, or must enrol
// a factor first, is sent to the browser (redirect_to_web).

// AuthorizationChallengePath is the authorization challenge endpoint.
const AuthorizationChallengePath = "/oauth2/authorization-challenge"

// AddAuthorizationChallenge advertises the authorization challenge
// endpoint (draft-ietf-oauth-first-party-apps-04 §4.1): call it when the
// token endpoints were built with Challenges and Factors.
func (m *Metadata) AddAuthorizationChallenge() {
	m.AuthorizationChallengeEndpoint = m.Issuer + AuthorizationChallengePath
}

const (
	// challengeSessionTTL bounds how long an auth_session waits for its
	// second factor.
	challengeSessionTTL = 5 * time.Minute
	// challengeSessionTries is how many second-factor attempts one
	// auth_session allows; each wrong one also spends the password budgets.
	challengeSessionTries = 5
	// maxAuthSessionLen bounds the auth_session parameter before any work.
	maxAuthSessionLen = 128
	// challengeCodeTTL is the life of the codes this endpoint issues: the
	// app redeems them at once.
	challengeCodeTTL = time.Minute
)

// Factor names of the insufficient_authorization answer's "factors"
// member (an extension: the draft leaves the error's further members to
// the server).
const (
	factorTOTP     = "totp"
	factorRecovery = "recovery_code"
)

// ChallengeStore is what the challenge endpoint keeps in the data layer;
// *storage.Store is one.
type ChallengeStore interface {
	SaveChallenge(ctx context.Context, hash string, cs *storage.ChallengeSession, ttl time.Duration) error
	TryChallenge(ctx context.Context, hash string, maxTries int) (*storage.ChallengeSession, error)
	TakeChallenge(ctx context.Context, hash string) error
	SaveCode(ctx context.Context, codeHash string, code *storage.AuthCode) error
}

var _ ChallengeStore = (*storage.Store)(nil)

// SecondFactorChecker checks second factors; *account.SecondFactors is one.
type SecondFactorChecker interface {
	Status(ctx context.Context, userID string) (*storage.SecondFactors, error)
	VerifyTOTP(ctx context.Context, user *storage.User, code, ip string) error
	UseRecoveryCode(ctx context.Context, user *storage.User, code, ip string) (int, error)
}

var _ SecondFactorChecker = (*account.SecondFactors)(nil)

// Errors of the draft (§5.3).
var (
	errInvalidSession = &Error{Code: "invalid_session", Status: http.StatusBadRequest,
		Description: "the auth_session is unknown, expired, used up or belongs to another client"}
	errRedirectToWeb = &Error{Code: "redirect_to_web", Status: http.StatusBadRequest,
		Description: "this sign-in needs the browser: use the authorization endpoint"}
)

// challengeAnswer is a body of the endpoint: the authorization code, or
// insufficient_authorization with the session to continue.
type challengeAnswer struct {
	Code        string   `json:"authorization_code,omitempty"`
	Error       string   `json:"error,omitempty"`
	Description string   `json:"error_description,omitempty"`
	AuthSession string   `json:"auth_session,omitempty"`
	Factors     []string `json:"factors,omitempty"`
}

// AuthorizationChallenge serves POST /oauth2/authorization-challenge.
func (h *Handler) AuthorizationChallenge(w http.ResponseWriter, r *http.Request) {
	if h.challenges == nil {
		http.NotFound(w, r)
		return
	}
	ans, e := h.authorizationChallenge(w, r)
	switch {
	case e != nil:
		h.writeError(w, r, e)
	case ans.Error != "":
		writeJSON(w, http.StatusBadRequest, ans)
	default:
		writeJSON(w, http.StatusOK, ans)
	}
}

func (h *Handler) authorizationChallenge(w http.ResponseWriter, r *http.Request) (*challengeAnswer, *Error) {
	f, e := readForm(w, r, h.cfg.MaxBodyBytes)
	if e != nil {
		return nil, e
	}
	cc, e := readClientCredentials(r, f)
	if e != nil {
		return nil, e
	}
	ctx := r.Context()
	client, e := h.clients.authenticate(ctx, cc)
	if e != nil {
		return nil, e
	}
	if !client.FirstParty || client.SelfRegistered || !slices.Contains(client.GrantTypes, account.GrantAuthorizationCode) {
		return nil, ErrUnauthorizedClient.WithDescription("only first-party clients of the code grant may use this endpoint")
	}
	challenge, method := f.get("code_challenge"), f.get("code_challenge_method")
	if challenge != "" && (method != PKCEMethodS256 || !challengePattern.MatchString(challenge)) {
		return nil, ErrInvalidRequest.WithDescription("code_challenge must be S256 (code_challenge_method=S256)")
	}
	if s := f.get("auth_session"); s != "" {
		return h.continueChallenge(ctx, r, f, client, s, challenge)
	}
	if challenge == "" {
		return nil, ErrInvalidRequest.WithDescription("code_challenge is required (PKCE with S256)")
	}
	username, password := f.get("username"), f.get("password")
	if username == "" || password == "" {
		return nil, ErrInvalidRequest.WithDescription("username and password are required")
	}
	requested, ok := parseScope(f.get("scope"))
	if !ok || !subset(requested, client.Scopes) {
		return nil, ErrInvalidScope
	}
	resources, e := f.resources()
	if e != nil {
		return nil, e
	}
	g, e := h.claim(ctx, grantClaim{client: client, requested: requested, newGrant: true, resources: resources})
	if e != nil {
		return nil, e
	}
	if e := g.target(); e != nil {
		return nil, e
	}
	if g.user, e = h.login(ctx, r, username, password); e != nil {
		return nil, e
	}
	required := false
	if h.mfa != nil {
		var err error
		if required, err = h.mfa.Required(ctx, g.user); err != nil {
			return nil, asError(err)
		}
	}
	g.heldAMR = []string{account.AMRPassword}
	if !required {
		return h.challengeCode(ctx, g, challenge)
	}
	// What the policy would refuse is refused now, not after the second
	// factor (it decides again then, from the records of that moment).
	if _, e := decideIssuance(g); e != nil {
		return nil, e
	}
	factors, e := h.acceptableFactors(ctx, g.user)
	if e != nil {
		return nil, e
	}
	// Only now, after a correct password, is anything stored.
	sess := secret.NewToken(32)
	cs := &storage.ChallengeSession{ClientID: client.ID, ClientGeneration: client.Generation, UserID: g.user.ID,
		Scope: requested, Resources: resources, CodeChallenge: challenge}
	if err := h.challenges.SaveChallenge(ctx, secret.SHA256(sess), cs, challengeSessionTTL); err != nil {
		return nil, asError(err)
	}
	return &challengeAnswer{Error: "insufficient_authorization", AuthSession: sess, Factors: factors,
		Description: "a second factor is required: send auth_session with totp or recovery_code"}, nil
}

// acceptableFactors are the factors this endpoint can check for user; none
// (passkeys only, or an enrolment the role requires) is redirect_to_web.
func (h *Handler) acceptableFactors(ctx context.Context, user *storage.User) ([]string, *Error) {
	st, err := h.factors.Status(ctx, user.ID)
	if err != nil {
		return nil, asError(err)
	}
	var out []string
	if st.TOTP != nil {
		out = append(out, factorTOTP)
	}
	if st.RecoveryLeft > 0 {
		out = append(out, factorRecovery)
	}
	if len(out) == 0 {
		return nil, errRedirectToWeb
	}
	return out, nil
}

// continueChallenge checks the second factor sent with an auth_session.
func (h *Handler) continueChallenge(ctx context.Context, r *http.Request, f form, client *storage.Client, sess, challenge string) (*challengeAnswer, *Error) {
	totp, recovery := f.get("totp"), f.get("recovery_code")
	if len(sess) > maxAuthSessionLen || (totp == "") == (recovery == "") {
		return nil, ErrInvalidRequest.WithDescription("send auth_session with exactly one of totp and recovery_code")
	}
	hash := secret.SHA256(sess)
	cs, err := h.challenges.TryChallenge(ctx, hash, challengeSessionTries)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errInvalidSession
	}
	if err != nil {
		return nil, asError(err)
	}
	if cs.ClientID != client.ID || !client.OwnsGrant(cs.ClientGeneration) {
		return nil, errInvalidSession
	}
	if challenge != "" && challenge != cs.CodeChallenge {
		return nil, errInvalidSession.WithDescription("the code_challenge differs from the auth_session's")
	}
	user, err := h.users.GetUser(ctx, cs.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errInvalidSession
	}
	if err != nil {
		return nil, asError(err)
	}
	ip := clientIP(r)
	if totp != "" {
		err = h.factors.VerifyTOTP(ctx, user, totp, ip)
	} else {
		_, err = h.factors.UseRecoveryCode(ctx, user, recovery, ip)
	}
	var throttled *ratelimit.Throttled
	switch {
	case errors.Is(err, account.ErrBadCode):
		factors, e := h.acceptableFactors(ctx, user)
		if e != nil {
			return nil, e
		}
		return &challengeAnswer{Error: "insufficient_authorization", AuthSession: sess, Factors: factors,
			Description: "the code is wrong or was used"}, nil
	case errors.Is(err, account.ErrSecretUnreadable):
		return nil, errRedirectToWeb
	case errors.As(err, &throttled):
		return nil, ErrTooManyRequests.retryAfter(throttled.RetryAfterSeconds()).Wrap(err)
	case err != nil:
		return nil, asError(err)
	}
	if err := h.challenges.TakeChallenge(ctx, hash); errors.Is(err, storage.ErrNotFound) {
		return nil, errInvalidSession
	} else if err != nil {
		return nil, asError(err)
	}
	g, e := h.claim(ctx, grantClaim{client: client, user: user, requested: cs.Scope, newGrant: true, resources: cs.Resources,
		heldAMR: []string{account.AMRPassword, account.AMROTP, account.AMRMFA}})
	if e != nil {
		return nil, e
	}
	return h.challengeCode(ctx, g, cs.CodeChallenge)
}

// challengeCode issues the authorization code: the issuance policy fixes
// its scope as it does for every new grant, and the code grant redeems it
// with the PKCE verifier and no redirect_uri.
func (h *Handler) challengeCode(ctx context.Context, g grantClaim, challenge string) (*challengeAnswer, *Error) {
	dec, e := decideIssuance(g)
	if e != nil {
		return nil, e
	}
	now := h.now()
	code := secret.NewToken(32)
	err := h.challenges.SaveCode(ctx, secret.SHA256(code), &storage.AuthCode{
		ClientID: g.client.ID, UserID: g.user.ID, RedirectURIOmitted: true,
		Scope: dec.grantScope, Resources: g.resources,
		CodeChallenge: challenge, CodeChallengeMethod: PKCEMethodS256,
		AuthTime: now, ExpiresAt: now.Add(challengeCodeTTL), ClientGeneration: g.client.Generation, AMR: dec.amr,
	})
	if err != nil {
		return nil, asError(err)
	}
	return &challengeAnswer{Code: code}, nil
}
