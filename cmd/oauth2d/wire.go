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
	limiter := ratelimit.New(a.store.Redis(), a.store.Prefix(), ratelimit.Limits{
		PerUsername: cfg.RateLimit.LoginPerUsername, PerIP: cfg.RateLimit.LoginPerIP,
	})
	// One checker for the token endpoint and the login page, so that its
	// bound on password and secret checks in flight holds for both.
	checker, err := secret.NewChecker(runtime.GOMAXPROCS(0), nil)
	if err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	if h.Bearer, err = resource.NewAuthenticator(verifier, a.store, resource.Options{Realm: cfg.Issuer, Logger: a.logger}); err != nil {
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
	if h.Tokens, err = a.tokenEndpoints(verifier, limiter, checker, clients, users); err != nil {
		return h, err
	}
	if err := a.browserFlow(&h, limiter, checker, revoker, users); err != nil {
		return h, err
	}
	md := oauth.NewMetadata(cfg.Issuer, oauth.AdvertisedScopes, a.keys.IDTokenAlgorithm())
	md.AddBrowserFlow(web.EndSessionPath)
	if h.Discovery, err = oauth.NewDiscovery(md, a.keys); err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	if h.API, err = api.New(api.Deps{Bearer: h.Bearer, Revoker: revoker, Comments: a.store, Users: users, Logger: a.logger}); err != nil {
		return h, fmt.Errorf("serve: %w", err)
	}
	h.Admin, err = admin.New(admin.Deps{
		Revoker: revoker, Clients: a.store, Users: a.store,
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
func (a *app) tokenEndpoints(verifier *token.Verifier, limiter *ratelimit.Limiter, checker *secret.Checker, clients *storage.ClientCache, users *storage.UserCache) (*oauth.Handler, error) {
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
		Observe: func(grantType, outcome string) {
			requests.WithLabelValues(grantType, outcome).Inc()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return h, nil
}

// browserFlow is "login with": the authorization endpoint, the login,
// consent, account and logout pages, and userinfo.
func (a *app) browserFlow(h *httpserver.Handlers, limiter *ratelimit.Limiter, checker *secret.Checker, revoker *account.Revoker, users *storage.UserCache) error {
	cfg := a.cfg
	var err error
	h.Pages, err = web.New(web.Deps{
		Config: web.Config{Issuer: cfg.Issuer, ResumePath: oauth.AuthorizeResumePath}, Store: a.store,
		Limiter: limiter, Revoker: revoker, Checker: checker, Keys: a.keys, Templates: templates.FS, Logger: a.logger,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	h.Authorizer, err = oauth.NewAuthorizer(oauth.AuthorizerDeps{
		Config: oauth.AuthorizerConfig{Issuer: cfg.Issuer, CodeTTL: cfg.Tokens.CodeTTL, PKCERequiredForAll: cfg.PKCERequiredForAll,
			LoginPath: web.LoginPath, ConsentPath: web.ConsentPath},
		Store: a.store, Sessions: h.Pages, Pages: h.Pages, Logger: a.logger,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if h.Userinfo, err = oauth.NewUserinfo(users, h.Bearer, a.logger); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
