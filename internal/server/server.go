// Package server composes the authorization server: from a configuration,
// a store and the signing keys it builds every handler of the route table
// (httpserver.Handlers), and says which background workers, readiness
// checks and data-loss hooks those handlers need. It is the one place
// where the oauth, web, resource, api, admin and backchannel packages are
// wired together, as dex's server.NewServer is: cmd/oauth2d serves what it
// builds, and webtest runs the same composition in tests.
package server

import (
	"cmp"
	"context"
	"crypto/x509"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/api"
	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/backchannel"
	"github.com/oauth2d/oauth2d/internal/clientkeys"
	"github.com/oauth2d/oauth2d/internal/clientmeta"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/httpserver"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/outbound"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web"
)

// Deps are what the server is built from. All are required but
// TracerProvider.
type Deps struct {
	Config *config.Config // validated
	Store  *storage.Store
	Keys   *token.KeySet
	Logger *slog.Logger
	// Metrics is the registry /metrics serves; the handlers add theirs.
	Metrics prometheus.Registerer
	// Checker bounds the password and secret checks in flight; the token
	// endpoint and the login page share it, so the bound holds for both.
	Checker *secret.Checker
	// ScopeTexts describe scopes on the consent and account pages (the
	// bootstrap file's merged over account.BuiltinScopeTexts).
	ScopeTexts map[string]account.ScopeText
	// Templates are the pages' HTML templates (templates.FS).
	Templates fs.FS
	// TracerProvider traces the work no request starts (back-channel
	// logout deliveries); nil: tracing off. Requests are traced by the
	// HTTP layer (httpserver.Deps), Redis commands by the store.
	TracerProvider trace.TracerProvider
	Tuning         Tuning
}

// Tuning holds what the configuration file does not set: in production
// each is zero, meaning its package's default; tests shorten them.
type Tuning struct {
	SessionIdleTTL     time.Duration // web.Config
	SessionAbsoluteTTL time.Duration // web.Config
	AuthRequestTTL     time.Duration // oauth.AuthorizerConfig
	// Sender's Poll and Batch; its Timeout and RetryFor are the
	// configuration's backchannel settings.
	Sender backchannel.SenderConfig
	// NoCaches sends every client and user lookup to Redis, for tests that
	// write records straight into the store and expect the next request
	// to see them (a cache learns of a change over pub/sub, a moment
	// later).
	NoCaches bool
	// OutboundRootCAs replaces the system's roots for the server's own
	// https requests (outbound.WithRootCAs), for tests whose https
	// servers have certificates of their own; nil in production.
	OutboundRootCAs *x509.CertPool
	// Now is the clock of every decision about time the handlers make
	// (time.Now when nil), for tests that move time forward. DPoP proofs
	// are checked against the real clock: their iat is the client's.
	Now func() time.Time
	// ClientKeys tunes the fetcher of private_key_jwt clients' jwks_uri
	// (clientkeys' defaults when zero); its Client is always the outbound
	// guard's.
	ClientKeys clientkeys.FetcherConfig
}

// Worker is background work that lives as long as the server: the caller
// runs each until ctx ends and waits for it.
type Worker func(ctx context.Context) error

// Server is the composed server.
type Server struct {
	Handlers httpserver.Handlers
	// Checks are the readiness checks the handlers add to /readyz.
	Checks  []httpserver.Check
	Workers []Worker
	// OnDataLoss drops the in-memory copies of what Redis lost.
	OnDataLoss []func()
	// OnShutdown are called when the HTTP server's drain begins
	// (http.Server.RegisterOnShutdown): they end requests that would
	// otherwise be held past it, such as the revocation feed's.
	OnShutdown []func()
}

// New builds the server. It loads the revocation state before it returns,
// so that no revoked token slips through a cold start; ctx bounds that
// load and the subscriptions the workers later follow.
func New(ctx context.Context, d Deps) (*Server, error) {
	if d.Config == nil || d.Store == nil || d.Keys == nil || d.Logger == nil || d.Metrics == nil || d.Checker == nil ||
		d.ScopeTexts == nil || d.Templates == nil {
		return nil, fmt.Errorf("server: incomplete dependencies")
	}
	b := &builder{Deps: d, cfg: d.Config, srv: &Server{}}
	if err := b.build(ctx); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := b.auditLog(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return b.srv, nil
}

// auditLog is where audit events go: the log and, unless audit.stream
// is off, the stream its worker writes. Every request (the route table)
// and every worker carries it in its context, so Emit finds it.
func (b *builder) auditLog() error {
	o := audit.Options{Logger: b.Logger, Metrics: b.Metrics, Now: b.now}
	if b.cfg.Audit.Stream {
		o.Redis, o.StreamKey, o.StreamMaxLen = b.Store.Redis(), b.Store.AuditStreamKey(), b.cfg.Audit.StreamMaxLen
	}
	log, err := audit.New(o)
	if err != nil {
		return err
	}
	b.srv.Handlers.Audit = log
	for i, run := range b.srv.Workers {
		b.srv.Workers[i] = func(ctx context.Context) error { return run(audit.NewContext(ctx, log)) }
	}
	b.srv.Workers = append(b.srv.Workers, log.Run)
	return nil
}

// builder holds what the parts of New share while they are built.
type builder struct {
	Deps
	cfg *config.Config
	srv *Server

	verifier *token.Verifier
	proofs   *dpop.Verifier
	limiter  *ratelimit.Limiter
	// parBudget and proofBudget are public clients' per-address budgets
	// (publicBudgets).
	parBudget, proofBudget *ratelimit.Limiter
	// deviceBudget bounds public clients' device authorizations per
	// address, deviceGuesses the wrong user codes per address.
	deviceBudget, deviceGuesses *ratelimit.Limiter
	revoker                     *account.Revoker
	logouts                     *backchannel.Logouts
	// feed is the revocation feed the token endpoint's handler serves.
	feed *oauth.RevocationFeed
	// outbound guards every request the server sends (back-channel
	// logout) and the registrations that name where they go.
	outbound *outbound.Guard
	// clients and users answer the request paths' lookups by id: the
	// caches, or the store itself (Tuning.NoCaches).
	clients oauth.ClientLookup
	users   oauth.UserLookup
	// resources is the registry of resources (RFC 8707) the token and
	// authorization endpoints share.
	resources *oauth.Resources
	// box seals browser state and TOTP secrets (browserStateBox), and
	// factors and mfa are the second factors and who must use them.
	box     *secret.Box
	factors *account.SecondFactors
	mfa     *account.MFAPolicy
}

// now is the handlers' clock (Tuning.Now).
func (b *builder) now() time.Time {
	if b.Tuning.Now != nil {
		return b.Tuning.Now()
	}
	return time.Now()
}

func (b *builder) build(ctx context.Context) error {
	cfg, h := b.cfg, &b.srv.Handlers
	var err error
	var guardOpts []outbound.Option
	switch {
	case b.Tuning.OutboundRootCAs != nil:
		guardOpts = append(guardOpts, outbound.WithRootCAs(b.Tuning.OutboundRootCAs))
	case cfg.Outbound.CAFile != "":
		pool, err := outboundRoots(cfg.Outbound.CAFile)
		if err != nil {
			return err
		}
		guardOpts = append(guardOpts, outbound.WithRootCAs(pool))
	}
	if b.outbound, err = outbound.New(cfg, guardOpts...); err != nil {
		return err
	}
	// One verifier for every built-in resource; each route group then
	// takes only its own audience (httpserver.Audiences).
	auds := h.Audiences
	auds.API, auds.Admin = cfg.Tokens.Audience, []string{cfg.Tokens.AdminAudience}
	auds.Userinfo = append([]string{cfg.Issuer + oauth.UserinfoPath}, cfg.Tokens.Audience...)
	// Each API's 401 challenges name its metadata document (RFC 9728
	// §5.1), when it is served here.
	auds.APIMetadata, _ = oauth.ResourceMetadataURL(cfg.Issuer, cfg.Tokens.Audience[0])
	auds.AdminMetadata, _ = oauth.ResourceMetadataURL(cfg.Issuer, cfg.Tokens.AdminAudience)
	h.Audiences = auds
	if b.verifier, err = token.NewVerifier(b.Keys, cfg.Issuer, slices.Concat(auds.API, auds.Admin, auds.Userinfo[:1]), 0, b.now); err != nil {
		return err
	}
	if b.limiter, err = b.loginLimiter(); err != nil {
		return err
	}
	if b.proofs, err = b.proofVerifier(); err != nil {
		return err
	}
	if err := b.publicBudgets(); err != nil {
		return err
	}
	if h.Bearer, err = resource.NewAuthenticator(b.verifier, b.Store, resource.Options{Realm: cfg.Issuer, Logger: b.Logger, DPoP: b.proofs, Now: b.now}); err != nil {
		return err
	}
	if err := h.Bearer.Load(ctx); err != nil {
		return err
	}
	b.srv.Workers = append(b.srv.Workers, h.Bearer.Follow)
	b.srv.Checks = append(b.srv.Checks, httpserver.Check{Name: "revocations", Pinger: h.Bearer})
	if b.revoker, err = account.NewRevoker(b.Store, h.Bearer, cfg.Tokens.MaxLifetime(), b.now); err != nil {
		return err
	}
	if err := b.lookups(); err != nil {
		return err
	}
	if b.box, err = b.browserStateBox(); err != nil {
		return err
	}
	b.factors = &account.SecondFactors{Store: b.Store, Box: b.box, Guard: b.limiter, Issuer: cmp.Or(cfg.Branding.ProductName, config.DefaultProductName), Now: b.now}
	b.mfa = &account.MFAPolicy{Factors: b.factors, RequiredRoles: cfg.MFA.RequiredRoles}
	if cfg.MFA.Requires([]string{account.RoleAdmin}) {
		h.AdminACR = []string{account.ACRMFA}
	}
	if err := b.revocationFeed(ctx); err != nil {
		return err
	}
	if h.Tokens, err = b.tokenEndpoints(); err != nil {
		return err
	}
	if b.logouts, err = b.backchannelLogout(); err != nil {
		return err
	}
	if err := b.browserFlow(h); err != nil {
		return err
	}
	builtins := account.BuiltinResources(cfg)
	md := oauth.NewMetadata(cfg.Issuer, oauth.AdvertisedScopes, b.Keys.IDTokenAlgorithm())
	md.AddBrowserFlow(web.EndSessionPath)
	md.AddBackchannelLogout()
	md.AddDPoP(b.proofs.Algorithms())
	md.AddPAR(cfg.PAR.Required)
	md.AddDeviceAuthorization()
	md.AddAuthorizationChallenge()
	md.AddProtectedResources(builtins)
	md.AddRevocationFeed()
	if cfg.Registration.Mode != config.RegistrationOff {
		md.AddRegistration()
		if h.Registrar, err = b.registrar(); err != nil {
			return err
		}
	}
	if cfg.ClientIDMetadata.Enabled {
		md.AddClientIDMetadata()
	}
	if h.Discovery, err = oauth.NewDiscovery(md, b.Keys); err != nil {
		return err
	}
	if h.Resources, err = oauth.NewProtectedResources(cfg.Issuer, builtins, b.proofs.Algorithms()); err != nil {
		return err
	}
	if h.API, err = api.New(api.Deps{Bearer: h.Bearer, Revoker: b.revoker, Comments: b.Store, Users: b.users, Logger: b.Logger}); err != nil {
		return err
	}
	h.Admin, err = admin.New(admin.Deps{
		Revoker: b.revoker, Logouts: b.logouts, Clients: b.Store, Users: b.Store, Resources: b.Store, Factors: b.Store,
		Hasher:       secret.NewHasher(secret.DefaultParams()),
		Registration: account.PolicyWith(cfg, b.outbound), Logger: b.Logger, Now: b.now,
	})
	return err
}

// registrar serves dynamic client registration (RFC 7591, 7592), its
// registrations bounded per address (registration.per_ip) and in all
// (registration.max_clients).
func (b *builder) registrar() (*oauth.Registrar, error) {
	throttled := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "oauth2d_registration_throttled_total",
		Help: "Client registrations refused with 429 because their address spent registration.per_ip.",
	})
	if err := b.Metrics.Register(throttled); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	budget := ratelimit.New(b.Store.Redis(), b.Store.Prefix()+"register:", ratelimit.Limits{PerIP: b.cfg.Registration.PerIP},
		ratelimit.WithThrottleObserver(func(string) { throttled.Inc() }))
	return oauth.NewRegistrar(oauth.RegistrarDeps{
		Issuer: b.cfg.Issuer, Config: b.cfg.Registration, Policy: account.PolicyWith(b.cfg, b.outbound),
		Store: b.Store, Revoker: b.revoker, Hasher: secret.NewHasher(secret.DefaultParams()), Budget: budget,
		Logger: b.Logger, Now: b.now,
	})
}

// loginLimiter is the budget of failed password checks that the password
// grant and the login page share (package ratelimit).
func (b *builder) loginLimiter() (*ratelimit.Limiter, error) {
	throttled := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oauth2d_login_throttled_total",
		Help: "Password attempts (password grant and login page) refused with 429, by the budget that was spent: username_ip, ip or username.",
	}, []string{"budget"})
	if err := b.Metrics.Register(throttled); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	rl := b.cfg.RateLimit
	return ratelimit.New(b.Store.Redis(), b.Store.Prefix(), ratelimit.Limits{
		PerUsernameIP: rl.LoginPerUsernameIP, PerIP: rl.LoginPerIP, PerUsername: rl.LoginPerUsername,
	}, ratelimit.WithThrottleObserver(func(budget string) { throttled.WithLabelValues(budget).Inc() }),
		ratelimit.WithMaxPending(rl.LoginMaxPending), ratelimit.WithMaxWait(rl.LoginMaxWait)), nil
}

// publicBudgets are the per-address budgets of public clients, who
// authenticate with their id alone, so that anyone can act as one: pushed
// requests (par.public_per_ip) and DPoP proofs at the token endpoint
// (dpop.public_per_ip), each under a key prefix of its own.
func (b *builder) publicBudgets() error {
	throttled := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oauth2d_public_client_throttled_total",
		Help: "Requests refused with 429 because their address spent its budget: par (pushed requests), dpop (DPoP proofs at the token endpoint), device-start (public clients' device authorizations) or device-guess (wrong user codes on the device page).",
	}, []string{"budget"})
	if err := b.Metrics.Register(throttled); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	budget := func(name string, perIP int) *ratelimit.Limiter {
		count := throttled.WithLabelValues(name)
		return ratelimit.New(b.Store.Redis(), b.Store.Prefix()+name+":", ratelimit.Limits{PerIP: perIP},
			ratelimit.WithThrottleObserver(func(string) { count.Inc() }))
	}
	b.parBudget = budget("par", b.cfg.PAR.PublicPerIP)
	b.proofBudget = budget("dpop", b.cfg.DPoP.PublicPerIP)
	b.deviceBudget = budget("device-start", b.cfg.Device.PublicPerIP)
	// Wrong user codes (RFC 8628 §5.1) are failures, like wrong
	// passwords: only they spend the budget (Guard), so a person typing
	// the right code is never refused for an attacker's guesses that did
	// not happen.
	guesses := throttled.WithLabelValues("device-guess")
	b.deviceGuesses = ratelimit.New(b.Store.Redis(), b.Store.Prefix()+"device-guess:", ratelimit.Limits{PerIP: b.cfg.Device.WrongCodesPerIP},
		ratelimit.WithThrottleObserver(func(string) { guesses.Inc() }))
	return nil
}

// proofVerifier is the one DPoP verifier (RFC 9449) of this instance,
// shared by the token endpoint and the resource middleware; its replay
// records are in Redis, so a proof is accepted once across instances.
func (b *builder) proofVerifier() (*dpop.Verifier, error) {
	d := b.cfg.DPoP
	var nonces *dpop.Nonces
	if d.Nonces {
		var err error
		if nonces, err = dpop.NewNonces([]byte(d.NonceSecret), d.NonceLifetime, time.Now); err != nil {
			return nil, err
		}
	}
	return dpop.NewVerifier(dpop.Options{Algorithms: d.Algorithms, MaxAge: d.MaxAge, Nonces: nonces, Replay: b.Store})
}

// lookups are the client and user lookups of the request paths: caches
// kept current over pub/sub, so that a hit costs no round trip and keeps
// answering while Redis stalls; and, when client_id_metadata.enabled is
// on, the resolver of URL client ids in front of them, so that every
// path that looks a client up (authorize, PAR, token, refresh,
// revocation, introspection, the pages) knows document clients alike.
func (b *builder) lookups() error {
	builtin, userinfo := account.BuiltinResources(b.cfg), b.cfg.Issuer+oauth.UserinfoPath
	if b.Tuning.NoCaches {
		b.clients, b.users = b.Store, b.Store
		b.resources = oauth.NewResources(builtin, b.Store, userinfo)
		return b.documentClients()
	}
	clients := storage.NewClientCache(b.Store, time.Minute)
	users := storage.NewUserCache(b.Store, time.Minute)
	resources := storage.NewResourceCache(b.Store, time.Minute)
	b.clients, b.users = clients, users
	b.resources = oauth.NewResources(builtin, resources, userinfo)
	b.srv.OnDataLoss = append(b.srv.OnDataLoss, clients.Clear, users.Clear, resources.Clear)
	for name, run := range map[string]func(context.Context) error{"client": clients.Run, "user": users.Run, "resource": resources.Run} {
		b.srv.Workers = append(b.srv.Workers, func(ctx context.Context) error {
			// A cache that cannot follow changes serves nothing; the
			// server goes on without it.
			if err := run(ctx); err != nil {
				b.Logger.Warn("cache disabled: every lookup goes to Redis", "cache", name, "err", err)
			}
			return nil
		})
	}
	return b.documentClients()
}

// documentClients puts the resolver of client ID metadata documents in
// front of the client lookup, when client_id_metadata.enabled is on. Its
// fetches are budgeted per client address (client_id_metadata.per_ip)
// under a key prefix of their own.
func (b *builder) documentClients() error {
	m := b.cfg.ClientIDMetadata
	if !m.Enabled {
		return nil
	}
	r, err := clientmeta.New(clientmeta.Deps{
		Config: clientmeta.Config{Scopes: m.Scopes, MaxBytes: int64(m.MaxBytes), Timeout: m.Timeout,
			CacheMin: m.CacheMin, CacheMax: m.CacheMax, CacheEntries: m.CacheEntries},
		Next: b.clients, Guard: b.outbound, Policy: account.PolicyWith(b.cfg, b.outbound),
		Budget:  ratelimit.New(b.Store.Redis(), b.Store.Prefix()+"cimd:", ratelimit.Limits{PerIP: m.PerIP}),
		Address: oauth.ClientIPFrom, Logger: b.Logger, Now: b.now,
	})
	if err != nil {
		return err
	}
	b.clients = r
	return nil
}

// tokenEndpoints serves /oauth2/token, /revoke and /introspect.
func (b *builder) tokenEndpoints() (*oauth.Handler, error) {
	cfg := b.cfg
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oauth2d_token_requests_total",
		Help: "Token endpoint requests by grant type and outcome (ok or the RFC 6749 error code).",
	}, []string{"grant_type", "outcome"})
	if err := b.Metrics.Register(requests); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	kc := b.Tuning.ClientKeys
	kc.Client = b.outbound.Client(cmp.Or(kc.FetchTimeout, clientkeys.DefaultFetchTimeout))
	kc.Now = b.now
	keys, err := clientkeys.NewFetcher(kc)
	if err != nil {
		return nil, err
	}
	return oauth.NewHandler(oauth.Deps{
		Config: oauth.Config{
			Issuer:          cfg.Issuer,
			AccessTokenTTL:  cfg.Tokens.AccessTTL,
			IDTokenTTL:      cfg.Tokens.IDTokenTTL,
			RefreshSliding:  cfg.Tokens.RefreshSlidingTTL,
			RefreshAbsolute: cfg.Tokens.RefreshAbsoluteTTL,
			RefreshGrace:    cfg.Tokens.RefreshGrace,
			MaxBodyBytes:    cfg.HTTP.MaxBodyBytes,

			DPoPRequiredForPublic: cfg.DPoP.RequireForPublicClients,
		},
		Store:              b.Store,
		Clients:            b.clients,
		Users:              b.users,
		Passwords:          b.Store,
		Minter:             b.minter(),
		Verifier:           b.verifier,
		Limiter:            b.limiter,
		Checker:            b.Checker,
		Logger:             b.Logger,
		DPoP:               b.proofs,
		PublicProofLimiter: b.proofBudget,
		Resources:          b.resources,
		Feed:               b.feed,
		Devices:            b.Store,
		Assertions:         b.Store,
		ClientKeys:         keys,
		MFA:                b.mfa,
		Challenges:         b.Store,
		Factors:            b.factors,
		Now:                b.now,
		Observe: func(grantType, outcome string) {
			requests.WithLabelValues(grantType, outcome).Inc()
		},
	})
}

// revocationFeed is the feed resource servers follow: subscribed before
// the server serves, so that no held request misses a revocation, and
// ended at the drain, so that none outlasts it.
func (b *builder) revocationFeed(ctx context.Context) error {
	feed, err := oauth.NewRevocationFeed(b.Store, oauth.FeedConfig{MaxWaiters: b.cfg.RevocationFeed.MaxWaiters, Logger: b.Logger})
	if err != nil {
		return err
	}
	if err := feed.Listen(ctx); err != nil {
		return err
	}
	waiting := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "oauth2d_revocation_feed_waiting",
		Help: "Revocation feed requests this instance holds while they wait for a revocation (at most revocation_feed.max_waiters).",
	}, func() float64 { return float64(feed.Waiting()) })
	if err := b.Metrics.Register(waiting); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	b.feed = feed
	b.srv.Workers = append(b.srv.Workers, feed.Follow)
	b.srv.OnShutdown = append(b.srv.OnShutdown, feed.EndWaits)
	return nil
}

func (b *builder) minter() *token.Minter {
	return token.NewMinter(b.Keys, b.cfg.Issuer, b.cfg.Tokens.Audience, b.now)
}

// backchannelLogout remembers which relying parties each browser session
// reached and, as a worker, delivers their logout tokens from the queue
// every instance shares.
func (b *builder) backchannelLogout() (*backchannel.Logouts, error) {
	sc := b.Tuning.Sender
	sc.Timeout, sc.RetryFor = b.cfg.Backchannel.Timeout, b.cfg.Backchannel.RetryFor
	sender, err := backchannel.NewSender(backchannel.SenderDeps{
		Config: sc, Store: b.Store, Minter: b.minter(), Outbound: b.outbound, Metrics: b.Metrics, Logger: b.Logger,
		TracerProvider: b.TracerProvider,
	})
	if err != nil {
		return nil, err
	}
	b.srv.Workers = append(b.srv.Workers, sender.Run)
	return backchannel.NewLogouts(b.Store, sender.Wake, b.Logger, b.now)
}

// browserFlow is "login with": the authorization endpoint, the login,
// consent, account and logout pages, pushed requests and userinfo.
func (b *builder) browserFlow(h *httpserver.Handlers) error {
	cfg := b.cfg
	box := b.box
	// One box and one set of pending requests for the pages and the
	// authorization endpoint.
	pending, err := oauth.NewPendingRequests(b.Store, box, b.now)
	if err != nil {
		return err
	}
	h.Pages, err = web.New(web.Deps{
		Config: web.Config{Issuer: cfg.Issuer, ResumePath: oauth.AuthorizeResumePath, Branding: cfg.Branding,
			SessionIdleTTL: b.Tuning.SessionIdleTTL, SessionAbsoluteTTL: b.Tuning.SessionAbsoluteTTL,
			ConsentRememberUnticked: !cfg.Consent.RememberByDefault},
		Store: b.Store, Clients: b.clients, Users: b.users, Pending: pending, Box: box, Limiter: b.limiter, Revoker: b.revoker, Logouts: b.logouts, Checker: b.Checker,
		Keys: b.Keys, ScopeTexts: b.ScopeTexts, Resources: b.resources, Templates: b.Templates, Logger: b.Logger, Now: b.now,
		Devices: b.Store, DeviceGuesses: b.deviceGuesses,
		Factors: b.factors, MFA: b.mfa,
	})
	if err != nil {
		return err
	}
	// A registered passkey is a second factor: it makes the password
	// login ask for one (and the password grant refuse), as TOTP does.
	// The pages say whether a user has one (none when the issuer can have
	// no passkeys); nothing is served before this is set.
	b.factors.Passkeys = h.Pages
	h.Authorizer, err = oauth.NewAuthorizer(oauth.AuthorizerDeps{
		Config: oauth.AuthorizerConfig{Issuer: cfg.Issuer, CodeTTL: cfg.Tokens.CodeTTL, PKCERequiredForAll: cfg.PKCERequiredForAll,
			AuthRequestTTL: b.Tuning.AuthRequestTTL, LoginPath: web.LoginPath, ConsentPath: web.ConsentPath, PARRequired: cfg.PAR.Required,
			DeviceDonePath: web.DeviceDonePath},
		Store: b.Store, Pending: pending, Sessions: h.Pages, Pages: h.Pages, Logger: b.Logger, Pushed: b.Store, Now: b.now,
		Keys: b.Keys, Resources: b.resources, Clients: b.clients, Users: b.users, Devices: b.Store, MFA: b.mfa,
	})
	if err != nil {
		return err
	}
	// Pushed requests (RFC 9126) use the token endpoint's client
	// authentication and the authorization endpoint's checks.
	h.Pusher, err = oauth.NewPusher(oauth.PusherDeps{
		Tokens: h.Tokens, Authorizer: h.Authorizer, Store: b.Store, TTL: cfg.PAR.RequestURITTL,
		PublicLimiter: b.parBudget,
	})
	if err != nil {
		return err
	}
	// Device authorization requests (RFC 8628) likewise; the person
	// answers them on the /device pages.
	h.Device, err = oauth.NewDeviceAuthorizer(oauth.DeviceDeps{
		Config: oauth.DeviceConfig{VerificationURI: cfg.Issuer + web.DevicePath, CodeTTL: cfg.Device.CodeTTL, Interval: cfg.Device.Interval},
		Tokens: h.Tokens, Authorizer: h.Authorizer, Store: b.Store, PublicLimiter: b.deviceBudget, Now: b.now,
	})
	if err != nil {
		return err
	}
	h.Userinfo, err = oauth.NewUserinfo(b.users, h.Bearer, b.Logger)
	return err
}

// browserStateBox seals what the browser keeps for an anonymous visitor
// (the pending authorization request, the login form's CSRF token). Its key
// is derived from the key encryption key (OAUTH2D_KEY_ENCRYPTION_KEY), which
// every instance of one deployment already shares. Without one (the
// development set-up), each process draws a random key: a single instance
// works, but instances behind one load balancer cannot open each other's
// login forms, and a restart sends signing-in users back to their app.
func (b *builder) browserStateBox() (*secret.Box, error) {
	if b.cfg.Keys.EncryptionKey == "" {
		b.Logger.Warn("no key encryption key: login forms, pending authorization requests and TOTP secrets are sealed with a per-process key; set OAUTH2D_KEY_ENCRYPTION_KEY when running several instances")
		return secret.NewRandomBox(), nil
	}
	kek, err := token.ParseEncryptionKey(b.cfg.Keys.EncryptionKey)
	if err != nil {
		return nil, err
	}
	return secret.NewBox(kek)
}

// outboundRoots is the system's roots plus the certificates of
// outbound.ca_file, which must hold at least one.
func outboundRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("server: %s: %w", config.OutboundCAFileSetting, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("server: %s: %s holds no PEM certificate", config.OutboundCAFileSetting, file)
	}
	return pool, nil
}
