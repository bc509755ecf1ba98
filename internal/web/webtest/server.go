// Package webtest runs the whole authorization server on 127.0.0.1 for
// tests (token endpoint, authorize endpoint, userinfo, discovery and the
// pages, on a real Redis with a prefix of its own) and drives it like a
// browser without JavaScript: a cookie jar, no automatic redirects, and
// forms read from the HTML.
package webtest

import (
	"context"
	"crypto/x509"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/backchannel"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/httpserver"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/server"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web"
	"github.com/oauth2d/oauth2d/templates"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Clients and users every server has.
const (
	ThirdPartyID      = "third-party" // confidential, asks for consent
	ThirdPartySecret  = "third-party-secret-0123456789"
	FirstPartyID      = "first-party" // confidential, consent skipped
	FirstPartySecret  = "first-party-secret-0123456789"
	PublicID          = "public-app" // public third-party app: PKCE mandatory
	MultiRedirectID   = "multi-redirect"
	MultiSecret       = "multi-secret-0123456789"
	DeviceID          = "tv-app" // public, device code grant (RFC 8628) and refresh
	DeviceConfID      = "tv-box" // confidential, device code grant only
	DeviceConfSecret  = "tv-box-secret-0123456789"
	ServiceID         = "service" // client credentials only
	ServiceSecret     = "service-secret-0123456789"
	AlicePassword     = "alice-password"
	BobPassword       = "bob-password"
	AdminPassword     = "admin-password"
	DefaultRedirect   = "http://localhost:9000/callback"
	SecondRedirect    = "http://localhost:9000/other"
	DefaultPostLogout = "http://localhost:9000/signed-out"
)

// AllScopes is what the test clients may ask for.
var AllScopes = []string{"openid", "profile", "email", "offline_access", "comments:read", "comments:write", "comments:moderate", "admin"}

// Options change the server.
type Options struct {
	PKCERequiredForAll bool
	Limits             ratelimit.Limits // zero: generous
	// RedirectURI replaces DefaultRedirect for every client (the browser
	// test needs one that answers).
	RedirectURI     string
	PostLogoutURI   string
	Templates       fs.FS // zero: templates.FS
	SessionIdleTTL  time.Duration
	SessionAbsolute time.Duration
	AccessTokenTTL  time.Duration
	AuthRequestTTL  time.Duration
	// Peer, when set, makes this server a second instance of Peer: the
	// same Redis, key prefix, signing keys and issuer, its own handlers,
	// caches and back-channel logout worker, on its own address. Nothing
	// is seeded: Peer did that.
	Peer *Server
	// PARRequestURITTL and PARPublicPerIP: see oauth.PusherDeps (zero:
	// the default lifetime, no limit).
	PARRequestURITTL time.Duration
	PARPublicPerIP   int
	// DPoPPublicPerIP: see oauth.Deps.PublicProofLimiter (zero: no limit).
	DPoPPublicPerIP int
	// DeviceInterval is device.interval (zero: 1s, so tests poll fast);
	// DevicePublicPerIP and DeviceWrongCodesPerIP the device budgets
	// (zero: no limit).
	DeviceInterval        time.Duration
	DevicePublicPerIP     int
	DeviceWrongCodesPerIP int
	// Branding of the pages (zero: oauth2d's own).
	Branding web.Branding
	// ScopeTexts stand for the bootstrap file's scopes: list.
	ScopeTexts []account.ScopeText
	// ConsentRememberUnticked: see web.Config.
	ConsentRememberUnticked bool
	// Metrics receives the server's metrics (nil: a registry of its own
	// that nobody reads).
	Metrics *prometheus.Registry
	// Now is the clock of the handlers and the store (nil: time.Now), for
	// tests that move time forward.
	Now func() time.Time
	// RefreshGrace is tokens.refresh_grace (zero: off, as reuse then
	// revokes at once).
	RefreshGrace time.Duration
	// TLS serves https, with an https issuer; Browser trusts the test
	// certificate. A Peer serves as its Peer does.
	TLS bool
	// TracerProvider traces the server as serve does when the OTEL_*
	// variables ask for it: requests, Redis commands, back-channel
	// deliveries (nil: tracing off). A Peer shares its Peer's store, and
	// so its Redis tracing.
	TracerProvider trace.TracerProvider
	// Logger receives the handlers' log, audit events included (nil:
	// discarded).
	Logger *slog.Logger
	// Registration is registration.* (nil: the default, off).
	Registration *config.Registration
	// ClientIDMetadata, when set, is the client_id_metadata configuration
	// (Enabled is set for it): https URL client ids are resolved from
	// their documents. DocumentRoots then trusts the test https servers
	// that serve them (outbound.WithRootCAs).
	ClientIDMetadata *config.ClientIDMetadata
	DocumentRoots    *x509.CertPool
	// NoInternalOutbound leaves outbound.allow_internal empty, so that
	// the server's own requests reach no internal address, 127.0.0.1
	// included (by default it is listed for the tests' receivers).
	NoInternalOutbound bool
	// MFARequiredRoles is mfa.required_roles.
	MFARequiredRoles []string
	// Localhost serves as http://localhost:<port> (URL and issuer), so
	// that passkeys work: their relying party id must be a domain.
	Localhost bool
}

// Server is a running authorization server.
type Server struct {
	t           testing.TB
	URL         string // == Issuer
	Issuer      string
	Store       *storage.Store
	RedisURL    string // the Store's Redis, for a second process's commands
	Keys        *token.KeySet
	RedirectURI string
	PostLogout  string
	Alice, Bob  *storage.User
	Admin       *storage.User
	env         *testenv.Env
}

// New starts a server for t; it stops when t ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	var env *testenv.Env
	switch {
	case o.Peer == nil && o.TLS:
		env = testenv.NewTLS(t)
	case o.Peer == nil:
		env = testenv.New(t)
	default:
		peer := *o.Peer.env
		peer.Server = httptest.NewUnstartedServer(nil)
		env = &peer
	}
	if (o.Now != nil || o.TracerProvider != nil) && o.Peer == nil {
		env.Reopen(t, o.Now, o.TracerProvider)
	}
	if o.Localhost && o.Peer == nil {
		env.UseLocalhost(t)
	}
	if o.Limits == (ratelimit.Limits{}) {
		o.Limits = ratelimit.Limits{PerUsername: 1000, PerIP: 1000}
	}
	env.Start(t, handler(t, env, o))
	serverURL := env.Server.URL
	if o.Localhost {
		serverURL = env.Issuer
	}
	s := &Server{t: t, URL: serverURL, Issuer: env.Issuer, Store: env.Store, RedisURL: env.RedisURL, Keys: env.Keys,
		RedirectURI: orString(o.RedirectURI, DefaultRedirect), PostLogout: orString(o.PostLogoutURI, DefaultPostLogout), env: env}
	if o.Peer != nil {
		s.Alice, s.Bob, s.Admin = o.Peer.Alice, o.Peer.Bob, o.Peer.Admin
		return s
	}
	s.seed(context.Background())
	return s
}

// handler builds the server as cmd/oauth2d does (server.New, from a
// configuration) and serves it through the one route table
// (httpserver.New). Its workers run until the test ends and are waited for.
func handler(t testing.TB, env *testenv.Env, o Options) http.Handler {
	t.Helper()
	cfg := config.Default()
	cfg.Issuer = env.Issuer
	cfg.Tokens.Audience = env.Audience
	cfg.Tokens.AdminAudience = AdminAudience(env.Issuer)
	cfg.Tokens.AccessTTL = 15 * time.Minute
	if o.AccessTokenTTL != 0 {
		cfg.Tokens.AccessTTL = o.AccessTokenTTL
	}
	cfg.Tokens.RefreshSlidingTTL = time.Hour
	cfg.Tokens.RefreshAbsoluteTTL = 24 * time.Hour
	// Reuse of a rotated refresh token revokes its family at once; the
	// grace window has tests of its own (internal/oauth).
	cfg.Tokens.RefreshGrace = o.RefreshGrace
	cfg.PKCERequiredForAll = o.PKCERequiredForAll
	cfg.Backchannel.Timeout = 2 * time.Second
	// The tests' relying parties take logout tokens on 127.0.0.1, an
	// internal address an operator would list the same way.
	cfg.Outbound.AllowInternal = []string{"127.0.0.1"}
	if o.NoInternalOutbound {
		cfg.Outbound.AllowInternal = nil
	}
	if o.ClientIDMetadata != nil {
		cfg.ClientIDMetadata = *o.ClientIDMetadata
		cfg.ClientIDMetadata.Enabled = true
	}
	cfg.RateLimit = config.RateLimit{LoginPerUsernameIP: o.Limits.PerUsernameIP, LoginPerIP: o.Limits.PerIP, LoginPerUsername: o.Limits.PerUsername}
	cfg.PAR.PublicPerIP = o.PARPublicPerIP
	cfg.DPoP.PublicPerIP = o.DPoPPublicPerIP
	cfg.Device.Interval = time.Second
	if o.DeviceInterval != 0 {
		cfg.Device.Interval = o.DeviceInterval
	}
	cfg.Device.PublicPerIP, cfg.Device.WrongCodesPerIP = o.DevicePublicPerIP, o.DeviceWrongCodesPerIP
	if o.PARRequestURITTL != 0 {
		cfg.PAR.RequestURITTL = o.PARRequestURITTL
	}
	if o.Branding != (web.Branding{}) {
		cfg.Branding = o.Branding
	}
	cfg.Consent.RememberByDefault = !o.ConsentRememberUnticked
	cfg.MFA.RequiredRoles = o.MFARequiredRoles
	if o.Registration != nil {
		cfg.Registration = *o.Registration
	}
	tmpl := o.Templates
	if tmpl == nil {
		tmpl = templates.FS
	}
	metrics := o.Metrics
	if metrics == nil {
		metrics = prometheus.NewRegistry()
	}
	ctx, stop := context.WithCancel(context.Background())
	logger := env.Logger
	if o.Logger != nil {
		logger = o.Logger
	}
	srv, err := server.New(ctx, server.Deps{
		Config: &cfg, Store: env.Store, Keys: env.Keys, Logger: logger, Metrics: metrics,
		Checker: env.Checker, ScopeTexts: account.MergeScopeTexts(o.ScopeTexts), Templates: tmpl, TracerProvider: o.TracerProvider,
		Tuning: server.Tuning{
			SessionIdleTTL: o.SessionIdleTTL, SessionAbsoluteTTL: o.SessionAbsolute, AuthRequestTTL: o.AuthRequestTTL,
			Sender: backchannel.SenderConfig{Poll: 50 * time.Millisecond},
			// Tests write clients and users straight into the store and
			// expect the next request to see them.
			NoCaches:        true,
			Now:             o.Now,
			OutboundRootCAs: o.DocumentRoots,
		},
	})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	var workers sync.WaitGroup
	for _, run := range srv.Workers {
		workers.Go(func() { _ = run(ctx) })
	}
	t.Cleanup(func() {
		stop()
		workers.Wait()
	})
	h, err := httpserver.New(httpserver.Deps{Logger: logger, Handlers: srv.Handlers,
		Issuer: cfg.Issuer, HSTSMaxAge: cfg.HTTP.HSTSMaxAge, TracerProvider: o.TracerProvider})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// seed registers the clients and users.
func (s *Server) seed(ctx context.Context) {
	t := s.t
	hash := func(v string) string { return testenv.Hash(t, v) }
	code := []string{"authorization_code", "refresh_token"}
	one := []string{s.RedirectURI}
	logout := []string{s.PostLogout}
	clients := []*storage.Client{
		{ID: ThirdPartyID, Name: "Third Party App", SecretHash: hash(ThirdPartySecret), GrantTypes: code, Scopes: AllScopes,
			RedirectURIs: one, PostLogoutRedirectURIs: logout},
		{ID: FirstPartyID, Name: "First Party App", SecretHash: hash(FirstPartySecret), FirstParty: true, GrantTypes: code,
			Scopes: AllScopes, RedirectURIs: one},
		{ID: PublicID, Name: "Public App", Public: true, GrantTypes: code, Scopes: AllScopes, RedirectURIs: one},
		{ID: MultiRedirectID, SecretHash: hash(MultiSecret), GrantTypes: code, Scopes: []string{"openid", "profile"},
			RedirectURIs: []string{s.RedirectURI, SecondRedirect}},
		{ID: DeviceID, Name: "Living Room TV", Public: true, GrantTypes: []string{account.GrantDeviceCode, account.GrantRefreshToken}, Scopes: AllScopes},
		{ID: DeviceConfID, Name: "Set-top Box", SecretHash: hash(DeviceConfSecret), GrantTypes: []string{account.GrantDeviceCode}, Scopes: AllScopes},
		{ID: ServiceID, SecretHash: hash(ServiceSecret), GrantTypes: []string{"client_credentials"},
			Scopes: []string{"openid", "comments:read"}, RedirectURIs: one, IntrospectionAudiences: s.env.Audience},
	}
	for _, c := range clients {
		if err := s.Store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	s.Alice = &storage.User{ID: "u-alice", Username: "alice", PasswordHash: hash(AlicePassword), Roles: []string{"user"},
		Name: "Alice Liddell", Email: "alice@example.com"}
	s.Bob = &storage.User{ID: "u-bob", Username: "bob", PasswordHash: hash(BobPassword), Roles: []string{"user"}}
	s.Admin = &storage.User{ID: "u-admin", Username: "admin", PasswordHash: hash(AdminPassword), Roles: []string{"admin"}}
	for _, u := range []*storage.User{s.Alice, s.Bob, s.Admin} {
		if err := s.Store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// AdminAudience is the admin API's resource identifier on a test server
// of issuer: tokens for /admin/v1 carry it.
func AdminAudience(issuer string) string { return issuer + "/admin" }
