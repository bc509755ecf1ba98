package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/url"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// Defaults of Config.
const (
	DefaultSessionIdleTTL     = 1 * time.Hour
	DefaultSessionAbsoluteTTL = 24 * time.Hour
	DefaultLoginFormTTL       = 30 * time.Minute
)

// Paths this package serves, defined once: the route table mounts them,
// the authorization endpoint sends the browser to the login and consent
// pages, and discovery advertises EndSessionPath.
const (
	LoginPath                = "/login"
	ConsentPath              = "/consent"
	LogoutPath               = "/logout"
	EndSessionPath           = "/oauth2/logout"
	AccountConsentPath       = "/account/consents"
	AccountConsentRevokePath = AccountConsentPath + "/revoke"
	StylesheetPath           = "/static/oauth2d.css"
	FaviconPath              = "/favicon.ico"
)

// Config holds the settings of the pages.
type Config struct {
	// Issuer decides the cookie: Secure and named with the __Host- prefix
	// when it is https.
	Issuer string
	// SessionIdleTTL ends a signed-in session unused this long.
	SessionIdleTTL time.Duration
	// SessionAbsoluteTTL ends a session this long after the login, however
	// active it is.
	SessionAbsoluteTTL time.Duration
	// LoginFormTTL bounds the sealed cookie that carries the login form's
	// CSRF token for a visitor nobody has signed in as.
	LoginFormTTL time.Duration
	// ResumePath is where the browser goes after login or consent, with
	// ?req=<id>: oauth.AuthorizeResumePath. Required.
	ResumePath string
	// Branding is the operator's name, logo and colour; a zero value
	// shows config.DefaultProductName.
	Branding Branding
	// ConsentRememberUnticked makes the consent page's "remember this
	// decision" box start unticked (consent.remember_by_default false).
	ConsentRememberUnticked bool
}

// Store is the part of the data layer the pages use.
type Store interface {
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
	storage.GrantStore
	DeleteConsent(ctx context.Context, userID, clientID string) error
	storage.SessionStore
	GetSessionLogin(ctx context.Context, sid string) (*storage.SessionLogin, error)
	UserSessionLogins(ctx context.Context, userID string) ([]*storage.SessionLogin, error)
	// UpdateUser stores a changed password (storage.Store.UpdateUser).
	UpdateUser(ctx context.Context, u *storage.User) error
}

var _ Store = (*storage.Store)(nil)

// GrantRevoker ends every refresh-token family of a user with a client and
// denies their newest access tokens; *account.Revoker is one.
type GrantRevoker interface {
	RevokeGrant(ctx context.Context, userID, clientID string) (int, error)
}

// SessionLogouts remembers signed-in sessions by sid and tells their
// relying parties when they end (OIDC Back-Channel Logout 1.0);
// *backchannel.Logouts is one.
type SessionLogouts interface {
	SessionStarted(ctx context.Context, sid, userID, sessionHash string, expiresAt time.Time) error
	// EndSession ends sid's session wherever its cookie is, tells its
	// clients, and reports whether it was still going.
	EndSession(ctx context.Context, sid string) (bool, error)
	// GrantEnded tells clientID that the user withdrew consent.
	GrantEnded(ctx context.Context, userID, clientID string) error
}

// ClientLookup finds clients by id; UserLookup finds users by id. The
// returned records are shared: the pages must not modify them.
type ClientLookup interface {
	GetClient(ctx context.Context, id string) (*storage.Client, error)
}

// UserLookup: see ClientLookup.
type UserLookup interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
}

// PendingRequests finds the authorization request a page works on by the
// handle in ?req= (*oauth.PendingRequests: sealed in the handle while the
// visitor is anonymous, stored once a user has signed in).
type PendingRequests interface {
	GetAuthRequest(ctx context.Context, handle string) (*storage.AuthRequest, error)
	SaveDecision(ctx context.Context, req *storage.AuthRequest) error
}

// LoginLimiter holds the brute-force budgets (*ratelimit.Limiter, shared
// with the password grant).
type LoginLimiter = account.Guard

// Deps are what New needs.
type Deps struct {
	Config Config
	Store  Store
	// Clients and Users answer lookups by id: storage.ClientCache and
	// storage.UserCache in production, so that the pages of a signed-in
	// user and the login page keep answering while Redis stalls.
	Clients ClientLookup
	Users   UserLookup
	Pending PendingRequests
	// Box seals the login form cookie; every instance must share its key.
	Box     *secret.Box
	Limiter LoginLimiter
	// Revoker ends a client's grant when the user withdraws consent.
	Revoker GrantRevoker
	// Logouts tells relying parties of ended sessions; nil: nobody is
	// told (sessions still get a sid).
	Logouts SessionLogouts
	// Checker verifies passwords: the process-wide one, shared with the
	// token endpoint so that one bound on checks in flight covers both.
	Checker *secret.Checker
	// Hasher hashes a password changed on the account page; nil: a
	// *secret.Hasher with secret.DefaultParams.
	Hasher PasswordHasher
	// Keys verifies the id_token_hint of a logout request (*token.KeySet).
	Keys token.KeyLookup
	// ScopeTexts describe scopes on the consent and account pages, by
	// name (the bootstrap file's, merged with account.BuiltinScopeTexts);
	// nil: the built-in texts only.
	ScopeTexts map[string]account.ScopeText
	// Resources names the resources (RFC 8707) a request is for on the
	// consent page (*oauth.Resources); nil: they are not shown.
	Resources ResourceNamer
	// Templates holds layout.html, the pages, static/oauth2d.css and
	// static/favicon.png
	// (templates.FS in production).
	Templates fs.FS
	Logger    *slog.Logger
	Now       func() time.Time
	// Devices finds device authorizations by user code (RFC 8628) and
	// DeviceGuesses bounds the wrong codes per address; both or neither
	// (nil: the device pages answer 404).
	Devices       DeviceRequests
	DeviceGuesses DeviceGuesses
}

// Handler serves the pages. It also tells package oauth who is signed in
// (SignedIn) and renders its error page (RenderError).
type Handler struct {
	cfg        Config
	store      Store
	clients    ClientLookup
	users      UserLookup
	pending    PendingRequests
	box        *secret.Box
	limiter    LoginLimiter
	revoker    GrantRevoker
	logouts    SessionLogouts
	keys       token.KeyLookup
	pages      map[string]*template.Template
	stylesheet []byte
	favicon    []byte // static/favicon.png, served at /favicon.ico
	imgSrc     string // the CSP's img-src: 'self' and the logo's origin
	scopeTexts map[string]account.ScopeText
	resources  ResourceNamer
	cookie     cookieSpec
	checker    *secret.Checker
	hasher     PasswordHasher
	passwords  interface {
		UpdateUser(ctx context.Context, u *storage.User) error
	}
	log *slog.Logger
	now func() time.Time

	devices       DeviceRequests
	deviceGuesses DeviceGuesses
}

// New builds the pages.
func New(d Deps) (*Handler, error) {
	if d.Store == nil || d.Clients == nil || d.Users == nil || d.Pending == nil || d.Box == nil || d.Limiter == nil || d.Revoker == nil || d.Checker == nil || d.Keys == nil ||
		d.Templates == nil || d.Config.ResumePath == "" {
		return nil, errors.New("web: needs a store, client and user lookups, pending requests, a box, a login limiter, a revoker, a password checker, keys, templates and the resume path")
	}
	iss, err := url.Parse(d.Config.Issuer)
	if err != nil || iss.Host == "" || (iss.Scheme != "https" && iss.Scheme != "http") {
		return nil, fmt.Errorf("web: issuer %q is not an http(s) URL", d.Config.Issuer)
	}
	cfg := d.Config
	cfg.SessionIdleTTL = orDefault(cfg.SessionIdleTTL, DefaultSessionIdleTTL)
	cfg.SessionAbsoluteTTL = orDefault(cfg.SessionAbsoluteTTL, DefaultSessionAbsoluteTTL)
	cfg.LoginFormTTL = orDefault(cfg.LoginFormTTL, DefaultLoginFormTTL)
	if cfg.Branding.ProductName == "" {
		cfg.Branding.ProductName = config.DefaultProductName
	}
	imgSrc := "'self'"
	if cfg.Branding.LogoURL != "" {
		src := cspSource(cfg.Branding.LogoURL)
		if src == "" {
			return nil, fmt.Errorf("web: logo URL %q has no origin a CSP can name", cfg.Branding.LogoURL)
		}
		imgSrc += " " + src
	}
	if (d.Devices == nil) != (d.DeviceGuesses == nil) {
		return nil, errors.New("web: the device pages need both a device store and a budget of wrong codes")
	}
	pages, err := parsePages(d.Templates, cfg.Branding)
	if err != nil {
		return nil, err
	}
	css, err := fs.ReadFile(d.Templates, "static/oauth2d.css")
	if err != nil {
		return nil, fmt.Errorf("web: stylesheet: %w", err)
	}
	favicon, err := fs.ReadFile(d.Templates, "static/favicon.png")
	if err != nil {
		return nil, fmt.Errorf("web: favicon: %w", err)
	}
	accent, err := accentRule(cfg.Branding.AccentColor)
	if err != nil {
		return nil, err
	}
	css = append(css, accent...)
	h := &Handler{cfg: cfg, store: d.Store, clients: d.Clients, users: d.Users, pending: d.Pending, box: d.Box, limiter: d.Limiter, revoker: d.Revoker, keys: d.Keys, pages: pages,
		stylesheet: css, favicon: favicon, imgSrc: imgSrc, scopeTexts: d.ScopeTexts, resources: d.Resources, cookie: newCookieSpec(iss.Scheme == "https"), checker: d.Checker, log: d.Logger, now: d.Now,
		devices: d.Devices, deviceGuesses: d.DeviceGuesses}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.logouts = d.Logouts; h.logouts == nil {
		h.logouts = noLogouts{}
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.hasher = d.Hasher; h.hasher == nil {
		h.hasher = secret.NewHasher(secret.DefaultParams())
	}
	h.passwords = d.Store
	if h.scopeTexts == nil {
		h.scopeTexts = account.MergeScopeTexts(nil)
	}
	return h, nil
}

// noLogouts keeps no index: without one, a session ends only where its
// cookie is, and nobody is told.
type noLogouts struct{}

func (noLogouts) SessionStarted(context.Context, string, string, string, time.Time) error { return nil }
func (noLogouts) EndSession(context.Context, string) (bool, error)                        { return false, nil }
func (noLogouts) GrantEnded(context.Context, string, string) error                        { return nil }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// ResourceNamer gives the display names of resources by identifier.
type ResourceNamer interface {
	ResourceNames(ctx context.Context, ids []string) []string
}
