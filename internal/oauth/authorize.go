package oauth

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// Paths of the OAuth and OpenID endpoints, defined once: the route table
// mounts them and discovery advertises them. The login and consent pages
// send the browser to AuthorizeResumePath once the user has answered.
const (
	AuthorizePath       = "/oauth2/authorize"
	AuthorizeResumePath = "/oauth2/authorize/resume"
	// PushedAuthorizationPath is the PAR endpoint (RFC 9126 §2).
	PushedAuthorizationPath = "/oauth2/par"
	TokenPath               = "/oauth2/token"
	RevocationPath          = "/oauth2/revoke"
	IntrospectionPath       = "/oauth2/introspect"
	UserinfoPath            = account.UserinfoPath
	JWKSPath                = "/.well-known/jwks.json"
	OAuthMetadataPath       = "/.well-known/oauth-authorization-server"
	OpenIDMetadataPath      = "/.well-known/openid-configuration"
)

// Defaults of AuthorizerConfig.
const (
	DefaultCodeTTL        = 60 * time.Second
	DefaultAuthRequestTTL = 10 * time.Minute
)

// AuthorizeStore is the part of the data layer the authorize endpoint uses.
type AuthorizeStore interface {
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	GetUser(ctx context.Context, id string) (*storage.User, error)
	GetConsent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
	SaveConsent(ctx context.Context, c *storage.Consent) error
	SaveCode(ctx context.Context, codeHash string, code *storage.AuthCode) error
	// AddSessionClient remembers that the client signed in through the
	// session sid, for back-channel logout.
	AddSessionClient(ctx context.Context, sid, clientID, generation string) error
	storage.AuthRequestStore
}

var _ AuthorizeStore = (*storage.Store)(nil)

// BrowserSessions tells who is signed in on the browser that sent r. The
// web package's Handler implements it.
type BrowserSessions interface {
	// SignedIn returns the browser's session, or storage.ErrNotFound when
	// nobody is signed in (no cookie, an expired or anonymous session).
	SignedIn(r *http.Request) (*storage.BrowserSession, error)
}

// ErrorPages renders the HTML page shown instead of a redirect when the
// client or its redirect URI cannot be trusted. The web package's Handler
// implements it.
// client is the client the page is about when it was found by id (nil
// otherwise): the page may link back to its registered client_uri.
type ErrorPages interface {
	RenderError(w http.ResponseWriter, r *http.Request, status int, message string, client *storage.Client)
}

// AuthorizerConfig holds the settings of the authorization endpoint.
type AuthorizerConfig struct {
	Issuer string // sent as iss with every response (RFC 9207)
	// CodeTTL is the authorization code's lifetime (DefaultCodeTTL if 0).
	CodeTTL time.Duration
	// AuthRequestTTL bounds how long a request may wait for login and
	// consent (DefaultAuthRequestTTL if 0).
	AuthRequestTTL time.Duration
	// PKCERequiredForAll requires PKCE from confidential clients too; it is
	// always required from public clients.
	PKCERequiredForAll bool
	// LoginPath and ConsentPath are the pages the browser is sent to, with
	// ?req=<pending request id> (web.LoginPath and web.ConsentPath).
	LoginPath   string
	ConsentPath string
	// PARRequired refuses every request that did not come through the PAR
	// endpoint (RFC 9126 §5).
	PARRequired bool
	// DeviceDonePath is the page that tells the person the answer went to
	// their device (RFC 8628 §3.3), with ?result=approved|denied.
	DeviceDonePath string
	// SecondFactorPath is the page where a signed-in person proves (or
	// enrols) a second factor when the request needs one
	// (web.SecondFactorPath); LoginPath + "/second-factor" when empty.
	SecondFactorPath string
}

// AuthorizerDeps are what NewAuthorizer needs.
type AuthorizerDeps struct {
	Config AuthorizerConfig
	Store  AuthorizeStore
	// Pending keeps requests while the user signs in and consents; the
	// pages read them through the same value.
	Pending  *PendingRequests
	Sessions BrowserSessions
	Pages    ErrorPages
	Logger   *slog.Logger
	Now      func() time.Time
	// Pushed holds pushed authorization requests (RFC 9126); nil: a
	// request_uri is never accepted.
	Pushed storage.PushedRequestStore
	// Keys verifies id_token_hint (*token.KeySet).
	Keys token.KeyLookup
	// Resources is the registry of resources (RFC 8707), as the token
	// endpoint's; nil: none.
	Resources *Resources
	// Clients and Users answer lookups by id: the caches the token
	// endpoint and the pages use, so that the authorization endpoint
	// keeps answering while Redis stalls. nil: the Store.
	Clients ClientLookup
	Users   UserLookup
	// Devices holds device authorizations (RFC 8628) that the pages hand
	// over as requests with a DeviceCodeHash; nil: none are answered.
	Devices storage.DeviceStore
	// MFA says which users must sign in with a second factor
	// (*account.MFAPolicy); nil: only clients' require_mfa and
	// acr_values ask for one.
	MFA SecondFactorPolicy
}

// SecondFactorPolicy says whether a user must sign in with a second
// factor; *account.MFAPolicy is one.
type SecondFactorPolicy interface {
	Required(ctx context.Context, user *storage.User) (bool, error)
}

var _ SecondFactorPolicy = (*account.MFAPolicy)(nil)

// Authorizer serves the authorization endpoint (RFC 6749 §3.1, §4.1.1–2;
// OIDC Core §3.1.2).
type Authorizer struct {
	cfg      AuthorizerConfig
	store    AuthorizeStore
	pending  *PendingRequests
	sessions BrowserSessions
	pages    ErrorPages
	log      *slog.Logger
	now      func() time.Time
	pushed   storage.PushedRequestStore
	keys     token.KeyLookup
	res      *Resources
	clients  ClientLookup
	users    UserLookup
	devices  storage.DeviceStore
	mfa      SecondFactorPolicy
}

// NewAuthorizer builds the authorization endpoint.
func NewAuthorizer(d AuthorizerDeps) (*Authorizer, error) {
	if d.Config.Issuer == "" || d.Config.LoginPath == "" || d.Config.ConsentPath == "" ||
		d.Store == nil || d.Pending == nil || d.Sessions == nil || d.Pages == nil || d.Keys == nil {
		return nil, errors.New("oauth: authorizer needs an issuer, the login and consent paths, a store, pending requests, browser sessions, error pages and keys")
	}
	if d.Config.CodeTTL <= 0 {
		d.Config.CodeTTL = DefaultCodeTTL
	}
	if d.Config.SecondFactorPath == "" {
		d.Config.SecondFactorPath = d.Config.LoginPath + "/second-factor"
	}
	if d.Config.AuthRequestTTL <= 0 {
		d.Config.AuthRequestTTL = DefaultAuthRequestTTL
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Authorizer{cfg: d.Config, store: d.Store, pending: d.Pending, sessions: d.Sessions, pages: d.Pages, log: d.Logger, now: d.Now,
		pushed: d.Pushed, keys: d.Keys, res: cmp.Or(d.Resources, &Resources{}),
		clients: cmp.Or[ClientLookup](d.Clients, d.Store), users: cmp.Or[UserLookup](d.Users, d.Store), devices: d.Devices, mfa: d.MFA}, nil
}

// Authorize serves GET and POST /oauth2/authorize: it validates the whole
// request before anything else happens, then answers at once if it can.
func (a *Authorizer) Authorize(w http.ResponseWriter, r *http.Request) {
	v, pe := authorizeParams(r)
	if pe != nil {
		a.pages.RenderError(w, r, pe.status, pe.message, pe.client)
		return
	}
	req, e, pe := a.parseOrTakePushed(r.Context(), v)
	switch {
	case pe != nil:
		a.pages.RenderError(w, r, pe.status, pe.message, pe.client)
	case e != nil:
		a.redirectError(w, r, req, e)
	default:
		req.CreatedAt = a.now()
		a.proceed(w, r, req, false)
	}
}

// Resume serves GET /oauth2/authorize/resume?req=<handle>, where the login
// and consent pages send the browser back. It can do no more than the
// original request could: everything it acts on is the validated request,
// sealed or stored (PendingRequests), and a consent decision counts only
// for the user who made it.
func (a *Authorizer) Resume(w http.ResponseWriter, r *http.Request) {
	req, err := a.pending.GetAuthRequest(r.Context(), r.URL.Query().Get("req"))
	if errors.Is(err, storage.ErrNotFound) {
		a.pages.RenderError(w, r, errPageExpired.status, errPageExpired.message, nil)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.proceed(w, r, req, !isSealed(req))
}

// proceed answers a valid request with a code when the browser's user has
// signed in recently enough and has consented; otherwise it stores the
// request and sends the browser to the login or consent page, or, under
// prompt=none, answers with the error that says which was needed.
func (a *Authorizer) proceed(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, stored bool) {
	ctx := r.Context()
	client, err := a.clients.GetClient(ctx, req.ClientID)
	if err != nil || !a.answerable(client, req) {
		// The client was deleted or changed while the user signed in.
		a.pages.RenderError(w, r, errPageUnknownClient.status, errPageUnknownClient.message, nil)
		return
	}
	if e := a.checkPushedRequired(client, req); e != nil {
		a.finishWithError(w, r, req, stored, e)
		return
	}
	sess, user, err := a.signedInUser(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if user != nil && !hintedUser(req, user) && (hasPrompt(req, PromptNone) || signedInDuring(req, sess)) {
		// Someone else than the id_token_hint names is signed in, and may
		// not be asked to sign in again, or just did so and chose to be
		// someone else: no answer for another user (OIDC Core §3.1.2.1).
		a.finishWithError(w, r, req, stored, errNotHintedUser)
		return
	}
	if user == nil || !a.loginFresh(req, sess) || !hintedUser(req, user) {
		if hasPrompt(req, PromptNone) {
			a.finishWithError(w, r, req, stored, ErrLoginRequired)
			return
		}
		a.interact(w, r, req, a.cfg.LoginPath)
		return
	}
	stepUp, err := a.needsSecondFactor(ctx, client, user, req, sess)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if stepUp {
		// Signed in, but with less than this request needs: the person
		// proves a second factor (or enrols one) on top of the session
		// (RFC 9470 §4, OIDC Core acr_values).
		if hasPrompt(req, PromptNone) {
			a.finishWithError(w, r, req, stored, errSecondFactorRequired)
			return
		}
		a.interact(w, r, req, a.cfg.SecondFactorPath)
		return
	}
	scope, e := a.grantScope(ctx, client, user, req)
	if e != nil {
		a.finishWithError(w, r, req, stored, e)
		return
	}
	decided := req.DecidedBy == user.ID && req.UserID == user.ID
	if decided && req.Decision == "deny" {
		a.finishWithError(w, r, req, stored, ErrAccessDenied)
		return
	}
	approved := decided && req.Decision == "allow" && subset(scope, req.Scope)
	if !approved {
		known, err := a.consentKnown(ctx, client, user, scope, req)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if !known {
			if hasPrompt(req, PromptNone) {
				a.finishWithError(w, r, req, stored, ErrConsentRequired)
				return
			}
			req.UserID, req.Scope, req.Decision, req.DecidedBy, req.DecisionOnce = user.ID, scope, "", "", false
			a.interact(w, r, req, a.cfg.ConsentPath)
			return
		}
	}
	a.issueCode(w, r, req, stored, client, user, sess, scope, approved)
}

// signedInUser returns the browser's session and user, or nils when nobody
// (or a user since deleted) is signed in.
func (a *Authorizer) signedInUser(r *http.Request) (*storage.BrowserSession, *storage.User, error) {
	sess, err := a.sessions.SignedIn(r)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	user, err := a.users.GetUser(r.Context(), sess.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return sess, user, nil
}

// loginFresh reports whether the session's login satisfies the request:
// a login during this very request always does; otherwise prompt=login
// asks for a new one and max_age bounds the login's age (OIDC Core
// §3.1.2.1). max_age=0 thus behaves like prompt=login.
func (a *Authorizer) loginFresh(req *storage.AuthRequest, sess *storage.BrowserSession) bool {
	if signedInDuring(req, sess) {
		return true
	}
	if hasPrompt(req, PromptLogin) {
		return false
	}
	if req.MaxAge != nil && a.now().Sub(sess.AuthTime) > time.Duration(*req.MaxAge)*time.Second {
		return false
	}
	return true
}

// errSecondFactorRequired answers prompt=none when the session's
// authentication is not enough for the request: the person has to
// authenticate again, with a second factor (login_required: OIDC Core
// §3.1.2.6, the error for "requires End-User authentication").
var errSecondFactorRequired = ErrLoginRequired.WithDescription("the request needs a sign-in with a second factor")

// needsSecondFactor reports whether the signed-in session must add a
// second factor before the request is answered: it has none, and the
// client requires one (require_mfa), the request asks only for the MFA
// class (acr_values), or the user must use one (they have one, or hold a
// role of mfa.required_roles).
func (a *Authorizer) needsSecondFactor(ctx context.Context, client *storage.Client, user *storage.User, req *storage.AuthRequest, sess *storage.BrowserSession) (bool, error) {
	amr := account.SessionAMR(sess.AMR)
	if account.ACR(amr) == account.ACRMFA {
		return false, nil
	}
	if client.RequireMFA || account.WantsMFA(req.ACRValues) {
		return true, nil
	}
	if a.mfa == nil {
		return false, nil
	}
	return a.mfa.Required(ctx, user)
}

// signedInDuring reports whether the session's login happened during this
// authorization request (on the login page it was sent to).
func signedInDuring(req *storage.AuthRequest, sess *storage.BrowserSession) bool {
	return !sess.AuthTime.Before(req.CreatedAt)
}

// hintedUser reports whether user is the one the request's id_token_hint
// names, or the request had none.
func hintedUser(req *storage.AuthRequest, user *storage.User) bool {
	return req.IDTokenHintSubject == "" || req.IDTokenHintSubject == user.ID
}

// consentKnown reports whether the user need not be asked: first-party
// clients are trusted, and a remembered consent covers the same or fewer
// scopes. prompt=consent always asks, and so does a request that cannot
// show which app will receive the answer (alwaysAsk).
func (a *Authorizer) consentKnown(ctx context.Context, client *storage.Client, user *storage.User, scope []string, req *storage.AuthRequest) (bool, error) {
	if hasPrompt(req, PromptConsent) || alwaysAsk(client, req.RedirectURI) {
		return false, nil
	}
	// A self-registered client is never trusted as first party, whatever
	// its record says (registration refuses the flag too).
	if client.FirstParty && !client.SelfRegistered {
		return true, nil
	}
	c, err := a.store.GetConsent(ctx, user.ID, client.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// A consent given to a deleted client of the same id holds nothing.
	return client.OwnsGrant(c.ClientGeneration) && subset(scope, c.Scope), nil
}

// alwaysAsk reports whether the person must see the consent page on
// every request, first party or remembered consent notwithstanding: a
// public client has no secret, so only its redirect URI can show who gets
// the code, and a loopback (any port, RFC 8252 §7.3), localhost or
// private-use scheme redirect can be received by any app on the device
// (RFC 8252 §8.6, RFC 6749 §10.2). Only an https redirect URI, which just
// its owner can serve, shows it. The consent is still remembered, for
// /account/consents and for when the client is reached over https; the
// client's registration may turn this off, insecurely.
func alwaysAsk(client *storage.Client, redirectURI string) bool {
	return client.Public && !client.InsecureSkipConsentForNativeRedirects && !redirectIdentifiesClient(redirectURI)
}

// redirectIdentifiesClient reports whether only the client's owner can
// receive a redirect to uri: an https URI with a host.
func redirectIdentifiesClient(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

// interact hands the request (it now carries everything the page needs) to
// the page at path: sealed into the URL for the login page, where nobody
// may be signed in yet, stored for the consent page (PendingRequests).
func (a *Authorizer) interact(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, path string) {
	if req.ExpiresAt.IsZero() {
		req.ExpiresAt = req.CreatedAt.Add(a.cfg.AuthRequestTTL)
	}
	if path == a.cfg.LoginPath {
		handle, err := a.pending.seal(req)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		redirect(w, r, path+"?req="+url.QueryEscape(handle))
		return
	}
	if req.ID == "" || isSealed(req) {
		req.ID = secret.NewToken(16)
	}
	if err := a.store.SaveAuthRequest(r.Context(), req); err != nil {
		a.fail(w, r, err)
		return
	}
	redirect(w, r, path+"?req="+url.QueryEscape(req.ID))
}

// issueCode answers the request with a fresh authorization code: 256
// random bits, stored under their SHA-256 and bound to everything the token
// endpoint checks (RFC 6749 §4.1.2, §10.5; RFC 7636 §4.4).
func (a *Authorizer) issueCode(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, stored bool,
	client *storage.Client, user *storage.User, sess *storage.BrowserSession, scope []string, approved bool) {
	ctx := r.Context()
	if stored && !a.take(w, r, req) {
		return
	}
	if approved && !req.DecisionOnce {
		if err := a.rememberConsent(ctx, client, user.ID, scope); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if req.DeviceCodeHash != "" {
		a.approveDevice(w, r, req, client, user, sess, scope)
		return
	}
	code := secret.NewToken(32)
	now := a.now()
	err := a.store.SaveCode(ctx, secret.SHA256(code), &storage.AuthCode{
		ClientID: req.ClientID, UserID: user.ID, RedirectURI: req.RedirectURI,
		RedirectURIOmitted: req.RedirectURIOmitted, Scope: scope, Resources: req.Resources,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: req.CodeChallengeMethod,
		Nonce: req.Nonce, AuthTime: sess.AuthTime, ExpiresAt: now.Add(a.cfg.CodeTTL), SID: sess.SID, SessionExpiresAt: sess.ExpiresAt,
		DPoPJKT: req.DPoPJKT, ClientGeneration: client.Generation, AMR: account.SessionAMR(sess.AMR),
	})
	if err != nil {
		a.redirectError(w, r, req, ErrServerError.Wrap(err))
		return
	}
	a.rememberSessionClient(ctx, sess, client, scope)
	a.redirectResponse(w, r, req, url.Values{"code": {code}})
}

// rememberConsent adds scope to what the user has granted the client, so
// the next request for the same or fewer scopes skips the page. What a
// deleted client of the same id was granted is not added.
func (a *Authorizer) rememberConsent(ctx context.Context, client *storage.Client, userID string, scope []string) error {
	granted := slices.Clone(scope)
	old, err := a.store.GetConsent(ctx, userID, client.ID)
	switch {
	case err == nil && !client.OwnsGrant(old.ClientGeneration):
	case err == nil:
		for _, s := range old.Scope {
			if !slices.Contains(granted, s) {
				granted = append(granted, s)
			}
		}
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	return a.store.SaveConsent(ctx, &storage.Consent{UserID: userID, ClientID: client.ID, Scope: granted,
		GrantedAt: a.now().UTC(), ClientGeneration: client.Generation})
}

// take consumes a stored request so it is answered exactly once, whatever
// the browser replays; a request already answered gets the expired page.
func (a *Authorizer) take(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest) bool {
	_, err := a.store.TakeAuthRequest(r.Context(), req.ID)
	if errors.Is(err, storage.ErrNotFound) {
		a.pages.RenderError(w, r, errPageExpired.status, errPageExpired.message, nil)
		return false
	}
	if err != nil {
		a.fail(w, r, err)
		return false
	}
	return true
}

func (a *Authorizer) finishWithError(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, stored bool, e *Error) {
	if stored && !a.take(w, r, req) {
		return
	}
	a.redirectError(w, r, req, e)
}

// redirectError sends a protocol error to the trusted redirect URI (RFC
// 6749 §4.1.2.1). A server error's cause goes to the log only.
func (a *Authorizer) redirectError(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, e *Error) {
	e = asError(e)
	if req.DeviceCodeHash != "" {
		a.denyDevice(w, r, req, e)
		return
	}
	if e.Status >= 500 {
		a.log.ErrorContext(r.Context(), "oauth: authorize failed", "client_id", req.ClientID,
			"request_id", w.Header().Get("X-Request-Id"), "err", e)
	}
	a.redirectResponse(w, r, req, url.Values{"error": {e.Code}, "error_description": {e.Description}})
}

// redirectResponse adds state and iss (RFC 9207 §2) to v and sends the
// browser to the redirect URI, keeping the URI's own query (RFC 6749
// §3.1.2).
func (a *Authorizer) redirectResponse(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, v url.Values) {
	if req.State != "" {
		v.Set("state", req.State)
	}
	v.Set("iss", a.cfg.Issuer)
	sep := "?"
	if strings.Contains(req.RedirectURI, "?") {
		sep = "&"
	}
	redirect(w, r, req.RedirectURI+sep+v.Encode())
}

// fail shows the error page for an internal failure after the client and
// redirect URI were trusted but when not even a redirect can be built
// safely (the store is down). The cause goes to the log.
func (a *Authorizer) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "oauth: authorize failed", "request_id", w.Header().Get("X-Request-Id"), "err", err)
	page := serverPage(err)
	if page == errPageUnavailable {
		problem.SetRetryAfter(w.Header())
	}
	a.pages.RenderError(w, r, page.status, page.message, nil)
}

// redirect answers a POST with 303 so the browser follows with a GET and
// does not repost the form (RFC 9700 §4.11), a GET with 302.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, status)
}

func hasPrompt(req *storage.AuthRequest, p string) bool { return slices.Contains(req.Prompt, p) }

// grantScope is the scope a code for req would hold: the issuance
// policy's rule for a new grant, within the resources the request names.
func (a *Authorizer) grantScope(ctx context.Context, client *storage.Client, user *storage.User, req *storage.AuthRequest) ([]string, *Error) {
	scope, e := grantClaim{client: client, user: user, requested: req.RequestedScope, newGrant: true}.scope()
	if e != nil || len(req.Resources) == 0 {
		return scope, e
	}
	reg, err := a.res.snapshot(ctx)
	if err != nil {
		return nil, asError(err)
	}
	res := reg.reachable(req.Resources, true, true) // a proof comes only with the token request
	return slices.DeleteFunc(scope, func(s string) bool { return !reg.carriedBy(res, s) }), nil
}
