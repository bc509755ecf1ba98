package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oauth2d/oauth2d/internal/admin"
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

// modules builds the route groups mounted on the server, in order, and the
// readiness checks they add. This is the one place where the oauth, web,
// resource and admin packages are wired together.
func (a *app) modules() ([]httpserver.Module, []httpserver.Check, error) {
	cfg := a.cfg
	verifier, err := token.NewVerifier(a.keys, cfg.Issuer, cfg.Tokens.Audience, 0, time.Now)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: %w", err)
	}
	limiter := ratelimit.New(a.store.Redis(), a.store.Prefix(), ratelimit.Limits{
		PerUsername: cfg.RateLimit.LoginPerUsername, PerIP: cfg.RateLimit.LoginPerIP,
	})
	// One checker for the token endpoint and the login page, so that its
	// bound on password and secret checks in flight holds for both.
	checker, err := secret.NewChecker(runtime.GOMAXPROCS(0), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: %w", err)
	}
	tokens, err := a.tokenEndpoints(verifier, limiter, checker)
	if err != nil {
		return nil, nil, err
	}
	browser, err := a.browserFlow(verifier, limiter, checker)
	if err != nil {
		return nil, nil, err
	}
	md := oauth.NewMetadata(cfg.Issuer, oauth.AdvertisedScopes, a.keys.IDTokenAlgorithm())
	md.AddBrowserFlow(web.EndSessionPath)
	discovery, err := oauth.NewDiscovery(md, a.keys)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: %w", err)
	}
	auth, api, adm, err := a.resourceServer(verifier)
	if err != nil {
		return nil, nil, err
	}
	mods := append([]httpserver.Module{discovery, tokens}, browser...)
	mods = append(mods, api, adm)
	return mods, []httpserver.Check{{Name: "revocations", Pinger: auth}}, nil
}

// tokenEndpoints serves /oauth2/token, /revoke and /introspect, with client
// and user lookups answered from caches kept current over pub/sub.
func (a *app) tokenEndpoints(verifier *token.Verifier, limiter *ratelimit.Limiter, checker *secret.Checker) (*oauth.Handler, error) {
	cfg := a.cfg
	clients := storage.NewClientCache(a.store, time.Minute)
	users := storage.NewUserCache(a.store, time.Minute)
	for name, run := range map[string]func(context.Context) error{"client": clients.Run, "user": users.Run} {
		go func() {
			if err := run(a.ctx); err != nil {
				a.logger.Warn("cache disabled: every lookup goes to Redis", "cache", name, "err", err)
			}
		}()
	}
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
		Store:    a.store,
		Clients:  clients,
		Users:    users,
		Minter:   token.NewMinter(a.keys, cfg.Issuer, cfg.Tokens.Audience, time.Now),
		Verifier: verifier,
		Limiter:  limiter,
		Checker:  checker,
		Logger:   a.logger,
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
func (a *app) browserFlow(verifier *token.Verifier, limiter *ratelimit.Limiter, checker *secret.Checker) ([]httpserver.Module, error) {
	cfg := a.cfg
	pages, err := web.New(web.Deps{
		Config: web.Config{Issuer: cfg.Issuer}, Store: a.store, Limiter: limiter, Checker: checker, Keys: a.keys,
		Templates: templates.FS, Logger: a.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	authz, err := oauth.NewAuthorizer(oauth.AuthorizerDeps{
		Config: oauth.AuthorizerConfig{Issuer: cfg.Issuer, CodeTTL: cfg.Tokens.CodeTTL, PKCERequiredForAll: cfg.PKCERequiredForAll},
		Store:  a.store, Sessions: pages, Pages: pages, Logger: a.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	userinfo, err := oauth.NewUserinfo(verifier, a.store, a.logger)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return []httpserver.Module{authz, userinfo, pages}, nil
}

// resourceServer is the protected API and the admin API, behind a bearer
// check whose deny list every instance keeps in memory. Start loads that
// list before the server answers, so no revoked token slips through a
// cold start.
func (a *app) resourceServer(verifier *token.Verifier) (*resource.Authenticator, *resource.API, *admin.API, error) {
	cfg := a.cfg
	auth, err := resource.NewAuthenticator(verifier, a.store, resource.Options{Realm: cfg.Issuer, Logger: a.logger})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	if err := auth.Start(a.ctx); err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	revoker, err := resource.NewRevoker(a.store, auth, maxTokenLifetime(cfg), time.Now)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	api, err := resource.NewAPI(resource.APIDeps{Auth: auth, Revoker: revoker, Comments: a.store, Users: a.store, Logger: a.logger})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	adm, err := admin.New(admin.Deps{
		Auth: auth, Revoker: revoker, Clients: a.store, Users: a.store,
		Hasher: secret.NewHasher(secret.DefaultParams()), Dev: cfg.InsecureDev, Logger: a.logger,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("serve: %w", err)
	}
	return auth, api, adm, nil
}
