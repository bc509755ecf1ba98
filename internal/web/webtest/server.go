// Package webtest runs the whole authorization server on 127.0.0.1 for
// tests (token endpoint, authorize endpoint, userinfo, discovery and the
// pages, on a real Redis with a prefix of its own) and drives it like a
// browser without JavaScript: a cookie jar, no automatic redirects, and
// forms read from the HTML.
package webtest

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web"
	"github.com/oauth2d/oauth2d/templates"
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
var AllScopes = []string{"openid", "profile", "email", "offline_access", "comments:read", "comments:write", "admin"}

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
	// Branding of the pages (zero: oauth2d's own).
	Branding web.Branding
	// ScopeTexts stand for the bootstrap file's scopes: list.
	ScopeTexts []account.ScopeText
	// ConsentRememberUnticked: see web.Config.
	ConsentRememberUnticked bool
}

// Server is a running authorization server.
type Server struct {
	t           testing.TB
	URL         string // == Issuer
	Issuer      string
	Store       *storage.Store
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
	if o.Peer == nil {
		env = testenv.New(t)
	} else {
		peer := *o.Peer.env
		peer.Server = httptest.NewUnstartedServer(nil)
		env = &peer
	}
	if o.Limits == (ratelimit.Limits{}) {
		o.Limits = ratelimit.Limits{PerUsername: 1000, PerIP: 1000}
	}
	env.Start(t, handler(t, env, o))
	s := &Server{t: t, URL: env.Server.URL, Issuer: env.Issuer, Store: env.Store, Keys: env.Keys,
		RedirectURI: orString(o.RedirectURI, DefaultRedirect), PostLogout: orString(o.PostLogoutURI, DefaultPostLogout), env: env}
	if o.Peer != nil {
		s.Alice, s.Bob, s.Admin = o.Peer.Alice, o.Peer.Bob, o.Peer.Admin
		return s
	}
	s.seed(context.Background())
	return s
}

// handler builds every part as cmd/oauth2d does and serves them through
// the one route table (httpserver.New).
func handler(t testing.TB, env *testenv.Env, o Options) http.Handler {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	accessTTL := o.AccessTokenTTL
	if accessTTL == 0 {
		accessTTL = 15 * time.Minute
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	limiter := ratelimit.New(env.Store.Redis(), env.Prefix, o.Limits)
	proofs, err := dpop.NewVerifier(dpop.Options{Replay: env.Store}) // DPoP is on, as in cmd/oauth2d
	must(err)
	bearer, err := resource.NewAuthenticator(env.Verifier, env.Store, resource.Options{Realm: env.Issuer, Logger: env.Logger, DPoP: proofs})
	must(err)
	must(bearer.Load(ctx))
	go func() { _ = bearer.Follow(ctx) }()
	revoker, err := account.NewRevoker(env.Store, bearer, accessTTL, time.Now)
	must(err)

	sender, err := backchannel.NewSender(backchannel.SenderDeps{
		Config: backchannel.SenderConfig{Poll: 50 * time.Millisecond, Timeout: 2 * time.Second},
		Store:  env.Store, Minter: token.NewMinter(env.Keys, env.Issuer, env.Audience, time.Now), Logger: env.Logger,
	})
	must(err)
	go func() { _ = sender.Run(ctx) }()
	logouts, err := backchannel.NewLogouts(env.Store, sender.Wake, env.Logger, time.Now)
	must(err)

	var h httpserver.Handlers
	h.Bearer = bearer
	h.Tokens, err = oauth.NewHandler(oauth.Deps{
		Config: oauth.Config{Issuer: env.Issuer, AccessTokenTTL: accessTTL, RefreshSliding: time.Hour,
			RefreshAbsolute: 24 * time.Hour, MaxBodyBytes: 64 << 10},
		Store: env.Store, Clients: env.Store, Users: env.Store, Passwords: env.Store,
		Minter:   token.NewMinter(env.Keys, env.Issuer, env.Audience, time.Now),
		Verifier: env.Verifier, Limiter: limiter, Checker: env.Checker, Logger: env.Logger, DPoP: proofs,
	})
	must(err)
	tmpl := o.Templates
	if tmpl == nil {
		tmpl = templates.FS
	}
	// One box and one set of pending requests for the pages and the
	// authorization endpoint, as cmd/oauth2d wires them.
	box := secret.NewRandomBox()
	pending, err := oauth.NewPendingRequests(env.Store, box, time.Now)
	must(err)
	h.Pages, err = web.New(web.Deps{
		Config: web.Config{Issuer: env.Issuer, SessionIdleTTL: o.SessionIdleTTL, SessionAbsoluteTTL: o.SessionAbsolute,
			ResumePath: oauth.AuthorizeResumePath, Branding: o.Branding, ConsentRememberUnticked: o.ConsentRememberUnticked},
		Store: env.Store, Pending: pending, Box: box, Limiter: limiter, Revoker: revoker, Logouts: logouts, Checker: env.Checker, Keys: env.Keys,
		ScopeTexts: account.MergeScopeTexts(o.ScopeTexts), Templates: tmpl, Logger: env.Logger,
	})
	must(err)
	h.Authorizer, err = oauth.NewAuthorizer(oauth.AuthorizerDeps{
		Config: oauth.AuthorizerConfig{Issuer: env.Issuer, PKCERequiredForAll: o.PKCERequiredForAll,
			AuthRequestTTL: o.AuthRequestTTL, LoginPath: web.LoginPath, ConsentPath: web.ConsentPath},
		Store: env.Store, Pending: pending, Sessions: h.Pages, Pages: h.Pages, Logger: env.Logger, Pushed: env.Store,
	})
	must(err)
	h.Pusher, err = oauth.NewPusher(oauth.PusherDeps{Tokens: h.Tokens, Authorizer: h.Authorizer, Store: env.Store,
		PublicLimiter: ratelimit.New(env.Store.Redis(), env.Prefix+"par:", ratelimit.Limits{PerIP: o.PARPublicPerIP}),
		TTL:           o.PARRequestURITTL})
	must(err)
	h.Userinfo, err = oauth.NewUserinfo(env.Store, bearer, env.Logger)
	must(err)
	md := oauth.NewMetadata(env.Issuer, AllScopes, env.Keys.IDTokenAlgorithm())
	md.AddBrowserFlow(web.EndSessionPath)
	md.AddBackchannelLogout()
	md.AddDPoP(proofs.Algorithms())
	md.AddPAR(false)
	h.Discovery, err = oauth.NewDiscovery(md, env.Keys)
	must(err)
	h.API, err = api.New(api.Deps{Bearer: bearer, Revoker: revoker, Comments: env.Store, Users: env.Store, Logger: env.Logger})
	must(err)
	h.Admin, err = admin.New(admin.Deps{Revoker: revoker, Logouts: logouts, Clients: env.Store, Users: env.Store,
		Hasher: secret.NewHasher(secret.DefaultParams()), Logger: env.Logger})
	must(err)
	srv, err := httpserver.New(httpserver.Deps{Logger: env.Logger, Handlers: h})
	must(err)
	return srv
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
		{ID: ServiceID, SecretHash: hash(ServiceSecret), GrantTypes: []string{"client_credentials"},
			Scopes: []string{"openid", "comments:read"}, RedirectURIs: one},
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
