package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/api"
	"github.com/oauth2d/oauth2d/internal/backchannel"
	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/httpserver"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web"
	"github.com/oauth2d/oauth2d/templates"
)

// worker is background work that lives as long as the server: serve runs
// each under one errgroup, stops it on shutdown and waits for it.
type worker func(ctx context.Context) error

// wiring is what handlers builds besides the handlers: readiness checks
// and background workers.
type wiring struct {
	checks  []httpserver.Check
	workers []worker
	// onDataLoss drops in-memory copies of what Redis lost (dataGuard).
	onDataLoss []func()
}

// handlers builds every handler of the route table. This is the one place
// where the oauth, web, resource, api and admin packages are wired
// together. It loads the revocation state before it returns, so no
// revoked token slips through a cold start.
func (a *app) handlers(w *wiring) (httpserver.Handlers, error) {
	var h httpserver.Handlers
	cfg := a.cfg
	verifier, err := token.NewVerifier(a.keys, cfg.Issuer, cfg.Tokens.Audience, 0, time.Now)
	if err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	throttled := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oauth2d_login_throttled_total",
		Help: "Password attempts (password grant and login page) refused with 429, by the budget that was spent: username_ip, ip or username.",
	}, []string{"budget"})
	if err := a.metrics.Register(throttled); err != nil {
		return h, fmt.Errorf("serve: metrics: %w", err)
	}
	limiter := ratelimit.New(a.store.Redis(), a.store.Prefix(), ratelimit.Limits{
		PerUsernameIP: cfg.RateLimit.LoginPerUsernameIP, PerIP: cfg.RateLimit.LoginPerIP, PerUsername: cfg.RateLimit.LoginPerUsername,
	}, ratelimit.WithThrottleObserver(func(budget string) { throttled.WithLabelValues(budget).Inc() }))
	// One checker for the token endpoint and the login page, so that its
	// bound on password and secret checks in flight holds for both.
	checker, err := secret.NewChecker(runtime.GOMAXPROCS(0), nil)
	if err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	proofs, err := a.proofVerifier()
	if err != nil {
		return h, err
	}
	if h.Bearer, err = resource.NewAuthenticator(verifier, a.store, resource.Options{Realm: cfg.Issuer, Logger: a.logger, DPoP: proofs}); err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	if err := h.Bearer.Load(a.ctx); err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	w.workers = append(w.workers, h.Bearer.Follow)
	w.checks = append(w.checks, httpserver.Check{Name: "revocations", Pinger: h.Bearer})
	revoker, err := account.NewRevoker(a.store, h.Bearer, maxTokenLifetime(cfg), time.Now)
	if err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	clients, users := a.caches(w)
	if h.Tokens, err = a.tokenEndpoints(verifier, proofs, limiter, checker, clients, users); err != nil {
		return h, err
	}
	logouts, err := a.backchannelLogout(w)
	if err != nil {
		return h, err
	}
	if err := a.browserFlow(&h, limiter, checker, revoker, logouts, users); err != nil {
		return h, err
	}
	md := oauth.NewMetadata(cfg.Issuer, oauth.AdvertisedScopes, a.keys.IDTokenAlgorithm())
	md.AddBrowserFlow(web.EndSessionPath)
	md.AddBackchannelLogout()
	md.AddDPoP(proofs.Algorithms())
	md.AddPAR(cfg.PAR.Required)
	if h.Discovery, err = oauth.NewDiscovery(md, a.keys); err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	if h.API, err = api.New(api.Deps{Bearer: h.Bearer, Revoker: revoker, Comments: a.store, Users: users, Logger: a.logger}); err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	h.Admin, err = admin.New(admin.Deps{
		Revoker: revoker, Logouts: logouts, Clients: a.store, Users: a.store,
		Hasher: secret.NewHasher(secret.DefaultParams()), InsecureDev: cfg.InsecureDev, Logger: a.logger,
	})
	if err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	return h, nil
}

// caches are the client and user lookups of the request paths, kept
// current over pub/sub: a hit costs no round trip, and keeps answering
// while Redis stalls.
func (a *app) caches(w *wiring) (*storage.ClientCache, *storage.UserCache) {
	clients := storage.NewClientCache(a.store, time.Minute)
	users := storage.NewUserCache(a.store, time.Minute)
	w.onDataLoss = append(w.onDataLoss, clients.Clear, users.Clear)
	for name, run := range map[string]func(context.Context) error{"client": clients.Run, "user": users.Run} {
		w.workers = append(w.workers, func(ctx context.Context) error {
			// A cache that cannot follow changes serves nothing; the
			// server goes on without it.
			if err := run(ctx); err != nil {
				a.logger.Warn("cache disabled: every lookup goes to Redis", "cache", name, "err", err)
			}
			return nil
		})
	}
	return clients, users
}

// tokenEndpoints serves /oauth2/token, /revoke and /introspect, with client
// and user lookups answered from the caches.
func (a *app) tokenEndpoints(verifier *token.Verifier, proofs *dpop.Verifier, limiter *ratelimit.Limiter, checker *secret.Checker,
	clients *storage.ClientCache, users *storage.UserCache) (*oauth.Handler, error) {
	cfg := a.cfg
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "oauth2d_token_requests_total",
		Help: "Token endpoint requests by grant type and outcome (ok or the RFC 6749 error code).",
	}, []string{"grant_type", "outcome"})
	if err := a.metrics.Register(requests); err != nil {
		return nil, fmt.Errorf("serve: metrics: %w", err)
	}
	h, err := oauth.NewHandler(oauth.Deps{
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
		Store:     a.store,
		Clients:   clients,
		Users:     users,
		Passwords: a.store,
		Minter:    token.NewMinter(a.keys, cfg.Issuer, cfg.Tokens.Audience, time.Now),
		Verifier:  verifier,
		Limiter:   limiter,
		Checker:   checker,
		Logger:    a.logger,
		DPoP:      proofs,
		Observe: func(grantType, outcome string) {
			requests.WithLabelValues(grantType, outcome).Inc()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return h, nil
}

// backchannelLogout remembers which relying parties each browser session
// reached and, as a worker, delivers their logout tokens from the queue
// every instance shares.
func (a *app) backchannelLogout(w *wiring) (*backchannel.Logouts, error) {
	sender, err := backchannel.NewSender(backchannel.SenderDeps{
		Store: a.store, Minter: token.NewMinter(a.keys, a.cfg.Issuer, a.cfg.Tokens.Audience, time.Now),
		Metrics: a.metrics, Logger: a.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	w.workers = append(w.workers, sender.Run)
	logouts, err := backchannel.NewLogouts(a.store, sender.Wake, a.logger, time.Now)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return logouts, nil
}

// browserFlow is "login with": the authorization endpoint, the login,
// consent, account and logout pages, and userinfo.
func (a *app) browserFlow(h *httpserver.Handlers, limiter *ratelimit.Limiter, checker *secret.Checker, revoker *account.Revoker,
	logouts *backchannel.Logouts, users *storage.UserCache) error {
	cfg := a.cfg
	box, err := a.browserStateBox()
	if err != nil {
		return err
	}
	pending, err := oauth.NewPendingRequests(a.store, box, time.Now)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	h.Pages, err = web.New(web.Deps{
		Config: web.Config{Issuer: cfg.Issuer, ResumePath: oauth.AuthorizeResumePath, Branding: web.Branding(cfg.Branding),
			ConsentRememberUnticked: !cfg.Consent.RememberByDefault}, Store: a.store,
		Pending: pending, Box: box, Limiter: limiter, Revoker: revoker, Logouts: logouts, Checker: checker, Keys: a.keys,
		ScopeTexts: a.scopeTexts, Templates: templates.FS, Logger: a.logger,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	h.Authorizer, err = oauth.NewAuthorizer(oauth.AuthorizerDeps{
		Config: oauth.AuthorizerConfig{Issuer: cfg.Issuer, CodeTTL: cfg.Tokens.CodeTTL, PKCERequiredForAll: cfg.PKCERequiredForAll,
			LoginPath: web.LoginPath, ConsentPath: web.ConsentPath, PARRequired: cfg.PAR.Required},
		Store: a.store, Pending: pending, Sessions: h.Pages, Pages: h.Pages, Logger: a.logger, Pushed: a.store,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if h.Pusher, err = a.pusher(h); err != nil {
		return err
	}
	if h.Userinfo, err = oauth.NewUserinfo(users, h.Bearer, a.logger); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// browserStateBox seals what the browser keeps for an anonymous visitor
// (the pending authorization request, the login form's CSRF token). Its key
// is derived from the key encryption key (OAUTH2D_KEY_ENCRYPTION_KEY), which
// every instance of one deployment already shares. Without one (the
// development set-up), each process draws a random key: a single instance
// works, but instances behind one load balancer cannot open each other's
// login forms, and a restart sends signing-in users back to their app.
func (a *app) browserStateBox() (*secret.Box, error) {
	if a.cfg.Keys.EncryptionKey == "" {
		a.logger.Warn("no key encryption key: login forms and pending authorization requests are sealed with a per-process key; set OAUTH2D_KEY_ENCRYPTION_KEY when running several instances")
		return secret.NewRandomBox(), nil
	}
	kek, err := token.ParseEncryptionKey(a.cfg.Keys.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	box, err := secret.NewBox(kek)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return box, nil
}
