package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

func TestMain(m *testing.M) { testredis.Main(m) }

// Fixed credentials of the clients and users every test server has.
const (
	firstPartyID     = "first-party"
	firstPartySecret = "first-party-secret-0123456789"
	thirdPartyID     = "third-party"
	thirdPartySecret = "third-party-secret-0123456789"
	publicID         = "public-app"
	serviceID        = "service"
	serviceSecret    = "service-secret-0123456789"
	alicePassword    = "alice-password"
	adminPassword    = "admin-password"
	redirectURI      = "http://localhost:9000/callback"
)

// server is an authorization server on 127.0.0.1 with its own Redis
// prefix, its store and its keys.
type server struct {
	t      testing.TB
	URL    string
	Issuer string
	// Audience is the aud of the server's access tokens; the service
	// client is registered to introspect for it, as a resource server.
	Audience []string
	Store    *storage.Store
	Keys     *token.KeySet
	Handler  *oauth.Handler
	// deps built Handler: a second instance on the same Redis is
	// oauth.NewHandler(deps) again.
	deps  oauth.Deps
	alice *storage.User
	admin *storage.User
}

type serverOption func(*oauth.Deps, *ratelimit.Limits)

func withGrace(grace time.Duration) serverOption {
	return func(d *oauth.Deps, _ *ratelimit.Limits) { d.Config.RefreshGrace = grace }
}

func withLimits(perUser, perIP int) serverOption {
	return func(_ *oauth.Deps, l *ratelimit.Limits) { *l = ratelimit.Limits{PerUsername: perUser, PerIP: perIP} }
}

func withObserver(f func(grantType, outcome string)) serverOption {
	return func(d *oauth.Deps, _ *ratelimit.Limits) { d.Observe = f }
}

func newServer(t testing.TB, opts ...serverOption) *server {
	t.Helper()
	env := testenv.New(t)
	// Lookups go through the caches, as in cmd/oauth2d.
	clients := storage.NewClientCache(env.Store, time.Minute)
	users := storage.NewUserCache(env.Store, time.Minute)
	cacheCtx, stopCache := context.WithCancel(context.Background())
	go func() { _ = clients.Run(cacheCtx) }()
	go func() { _ = users.Run(cacheCtx) }()
	t.Cleanup(stopCache)
	deps := oauth.Deps{
		Config: oauth.Config{
			Issuer: env.Issuer, AccessTokenTTL: 15 * time.Minute, RefreshSliding: time.Hour,
			RefreshAbsolute: 24 * time.Hour, MaxBodyBytes: 4096,
		},
		Store: env.Store, Clients: clients, Users: users, Passwords: env.Store, Checker: env.Checker,
		Minter:   token.NewMinter(env.Keys, env.Issuer, env.Audience, time.Now),
		Verifier: env.Verifier, Logger: env.Logger, Assertions: env.Store,
	}
	limits := ratelimit.Limits{PerUsername: 1000, PerIP: 1000}
	for _, o := range opts {
		o(&deps, &limits)
	}
	if deps.Limiter == nil { // an option may have built its own
		deps.Limiter = ratelimit.New(env.Store.Redis(), env.Prefix, limits)
	}
	h, err := oauth.NewHandler(deps)
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// The token endpoint and discovery alone, mounted as the route table
	// (package httpserver) mounts them.
	r.POST(oauth.TokenPath, oauth.RecordClientIP, gin.WrapF(h.Token))
	r.POST(oauth.RevocationPath, oauth.RecordClientIP, gin.WrapF(h.Revoke))
	r.POST(oauth.IntrospectionPath, oauth.RecordClientIP, gin.WrapF(h.Introspect))
	md := oauth.NewMetadata(env.Issuer, []string{"openid", "profile", "offline_access"}, env.Keys.IDTokenAlgorithm())
	discovery, err := oauth.NewDiscovery(md, env.Keys)
	if err != nil {
		t.Fatal(err)
	}
	r.GET(oauth.OAuthMetadataPath, discovery.ServeMetadata)
	r.GET(oauth.OpenIDMetadataPath, discovery.ServeMetadata)
	r.GET(oauth.JWKSPath, discovery.ServeJWKS)
	env.Start(t, r)

	s := &server{t: t, URL: env.Server.URL, Issuer: env.Issuer, Audience: env.Audience, Store: env.Store, Keys: env.Keys, Handler: h, deps: deps}
	s.seed(context.Background())
	return s
}

// seed registers the clients and users the tests use.
func (s *server) seed(ctx context.Context) {
	t := s.t
	hash := func(v string) string { return testenv.Hash(t, v) }
	all := []string{"openid", "profile", "email", "offline_access", "comments:read", "comments:write", "admin"}
	clients := []*storage.Client{
		{ID: firstPartyID, SecretHash: hash(firstPartySecret), FirstParty: true,
			GrantTypes: []string{"password", "refresh_token", "authorization_code"}, Scopes: all, RedirectURIs: []string{redirectURI}},
		{ID: thirdPartyID, SecretHash: hash(thirdPartySecret),
			GrantTypes: []string{"authorization_code", "refresh_token", "password"}, Scopes: all, RedirectURIs: []string{redirectURI}},
		{ID: publicID, Public: true, FirstParty: true,
			GrantTypes: []string{"authorization_code", "refresh_token", "password"}, Scopes: all, RedirectURIs: []string{redirectURI}},
		{ID: serviceID, SecretHash: hash(serviceSecret),
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"comments:read", "openid"},
			IntrospectionAudiences: s.Audience},
	}
	for _, c := range clients {
		if err := s.Store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	s.alice = &storage.User{ID: "u-alice", Username: "alice", PasswordHash: hash(alicePassword), Roles: []string{"user"}, Name: "Alice"}
	s.admin = &storage.User{ID: "u-admin", Username: "admin", PasswordHash: hash(adminPassword), Roles: []string{"admin"}}
	for _, u := range []*storage.User{s.alice, s.admin} {
		if err := s.Store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
}

// response is a decoded JSON answer with its status and headers.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r response) str(name string) string {
	s, _ := r.Body[name].(string)
	return s
}

// post sends a form to path, authenticating with Basic when user != "".
func (s *server) post(path string, form url.Values, user, pass string) response {
	s.t.Helper()
	return s.must(s.tryPost(path, form, user, pass))
}

func (s *server) do(req *http.Request) response {
	s.t.Helper()
	return s.must(s.tryDo(req))
}

// must fails the test on err. The try… helpers return their failure
// instead, for goroutines other than the test's own: only the test
// goroutine may call t.Fatal (testing.T.FailNow).
func (s *server) must(res response, err error) response {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
	return res
}

func (s *server) tryPost(path string, form url.Values, user, pass string) (response, error) {
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return s.tryDo(req)
}

func (s *server) tryDo(req *http.Request) (response, error) {
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			return out, fmt.Errorf("%s: body is not JSON: %q", req.URL.Path, raw)
		}
	}
	return out, nil
}

// race sends n requests at once, released together, and returns their
// answers in order. A transport failure fails the test after all have
// finished, from the test goroutine.
func race(t *testing.T, n int, send func() (response, error)) []response {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	out := make([]response, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			out[i], errs[i] = send()
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// passwordGrant returns the token response for alice via the first-party
// client.
func (s *server) passwordGrant(scope string) response {
	s.t.Helper()
	f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}}
	if scope != "" {
		f.Set("scope", scope)
	}
	res := s.post("/oauth2/token", f, firstPartyID, firstPartySecret)
	if res.Status != http.StatusOK {
		s.t.Fatalf("password grant: %d %s", res.Status, res.Raw)
	}
	return res
}

func (s *server) refresh(rt, clientID, clientSecret string) response {
	s.t.Helper()
	return s.must(s.tryRefresh(rt, clientID, clientSecret))
}

func (s *server) tryRefresh(rt, clientID, clientSecret string) (response, error) {
	return s.tryPost("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, clientID, clientSecret)
}

// active answers whether an access token is active, asked by the
// service, a resource server registered for the server's audience.
func (s *server) active(tok string) bool {
	s.t.Helper()
	if strings.Count(tok, ".") != 2 {
		// Only its own client learns about a refresh token: asked by the
		// service, it would be inactive whatever its state.
		s.t.Fatal("active: not an access token; ask about a refresh token with activeFor and its client")
	}
	return s.activeFor(tok, serviceID, serviceSecret)
}

// activeFor answers whether a token is active, asked by the client id.
func (s *server) activeFor(tok, id, secret string) bool {
	s.t.Helper()
	res := s.post("/oauth2/introspect", url.Values{"token": {tok}}, id, secret)
	if res.Status != http.StatusOK {
		s.t.Fatalf("introspect: %d %s", res.Status, res.Raw)
	}
	return res.Body["active"] == true
}

// wantError checks an RFC 6749 §5.2 error answer.
func wantError(t testing.TB, res response, status int, code string) {
	t.Helper()
	if res.Status != status || res.str("error") != code {
		t.Fatalf("got %d %s, want %d error=%s", res.Status, res.Raw, status, code)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", res.Header.Get("Cache-Control"))
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("401 without a Basic WWW-Authenticate challenge: %q", res.Header.Get("WWW-Authenticate"))
	}
}
