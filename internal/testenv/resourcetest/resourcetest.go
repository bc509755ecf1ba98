// Package resourcetest runs the resource side of oauth2d instances for
// tests: on a real Redis under a key prefix of its own, each instance has
// its own Redis connection, a loaded and following resource.Authenticator,
// an account.Revoker and the protected comments API mounted as the route
// table (package httpserver) mounts it. Instances of one Harness share the
// prefix, as instances behind one load balancer share Redis. Tokens are
// minted directly, under a settable clock.
//
// The packages it drives (resource, api, account) never import it, so
// their external tests may.
package resourcetest

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/api"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

// What every harness's tokens say and where its API answers.
const (
	Issuer    = "http://localhost:8080"
	Audience  = "http://localhost:8080/api"
	WebClient = "web"     // the client of user tokens
	ServiceID = "service" // the client, and subject, of client-credentials tokens
	TokenTTL  = 15 * time.Minute

	MePath       = "/api/v1/me"
	CommentsPath = "/api/v1/comments"
	LogoutPath   = "/api/v1/logout"
)

// AllScopes are the scopes the comments API knows.
var AllScopes = []string{"openid", "profile", "comments:read", "comments:write", "comments:moderate"}

// Main is TestMain for a package whose tests run on the harness: gin in
// release mode, then testredis.Main.
//
//	func TestMain(m *testing.M) { resourcetest.Main(m) }
func Main(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	testredis.Main(m)
}

// WaitBound is how long WaitStatus polls. It is generous on purpose: a
// test asserts that a change arrives, and in which order, not how fast.
const WaitBound = 10 * time.Second

// keySets are generated once per test binary: RSA key generation is slow
// under -race, and no test depends on fresh keys.
var keySets = sync.OnceValues(func() (map[string]*token.KeySet, error) {
	out := map[string]*token.KeySet{}
	for _, alg := range []string{token.AlgES256, token.AlgRS256} {
		set, err := token.NewDevKeySet(alg, token.AlgRS256, slog.New(slog.DiscardHandler), time.Now)
		if err != nil {
			return nil, err
		}
		out[alg] = set
	}
	return out, nil
})

// KeySet returns the test binary's key set whose access tokens use alg
// (token.AlgES256 or token.AlgRS256).
func KeySet(t testing.TB, alg string) *token.KeySet {
	t.Helper()
	sets, err := keySets()
	if err != nil {
		t.Fatal(err)
	}
	set, ok := sets[alg]
	if !ok {
		t.Fatalf("resourcetest: no key set for %q", alg)
	}
	return set
}

// Clock is a settable clock; it follows the wall clock until advanced.
type Clock struct {
	mu  sync.Mutex
	off time.Duration
}

// Now is the wall clock plus every Advance so far.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// Instance is one oauth2d instance's resource side.
type Instance struct {
	Store   *storage.Store
	Auth    *resource.Authenticator
	Revoker *account.Revoker
	Engine  *gin.Engine
}

// Harness is the first instance on a fresh prefix of a real Redis, with
// users Alice, Bob (role user) and Admin (roles user, admin).
type Harness struct {
	*Instance
	Redis  *testredis.Server
	Keys   *token.KeySet
	Minter *token.Minter
	Clock  *Clock
	// Ctx ends with the test; the instances follow pub/sub until then.
	Ctx               context.Context
	Alice, Bob, Admin *storage.User
}

// Option changes the resource.Options of an instance.
type Option func(*resource.Options)

// WithResync sets how often an instance reloads the revocation state
// from Redis besides following pub/sub.
func WithResync(d time.Duration) Option {
	return func(o *resource.Options) { o.ResyncInterval = d }
}

// New starts a harness whose access tokens are signed with accessAlg.
func New(t testing.TB, accessAlg string, opts ...Option) *Harness {
	t.Helper()
	return NewOn(t, testredis.New(t), accessAlg, opts...)
}

// NewOn is New on the given Redis (a Cluster, say).
func NewOn(t testing.TB, rs *testredis.Server, accessAlg string, opts ...Option) *Harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &Harness{Redis: rs, Keys: KeySet(t, accessAlg), Clock: &Clock{}, Ctx: ctx}
	h.Minter = token.NewMinter(h.Keys, Issuer, []string{Audience}, h.Clock.Now)
	h.Instance = h.NewInstance(t, opts...)
	h.Alice = &storage.User{Username: "alice", PasswordHash: "x", Roles: []string{"user"}}
	h.Bob = &storage.User{Username: "bob", PasswordHash: "x", Roles: []string{"user"}}
	h.Admin = &storage.User{Username: "admin", PasswordHash: "x", Roles: []string{"user", account.RoleAdmin}}
	for _, u := range []*storage.User{h.Alice, h.Bob, h.Admin} {
		if err := h.Store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// NewInstance starts another instance sharing the harness's Redis prefix
// and clock; it stops when t ends.
func (h *Harness) NewInstance(t testing.TB, opts ...Option) *Instance {
	t.Helper()
	store, err := storage.Open(h.Ctx, storage.Options{URL: h.Redis.URL, Prefix: h.Redis.Prefix, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	verifier, err := token.NewVerifier(h.Keys, Issuer, []string{Audience}, 0, h.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	o := resource.Options{Realm: Issuer, Now: h.Clock.Now}
	for _, f := range opts {
		f(&o)
	}
	auth, err := resource.NewAuthenticator(verifier, store, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.Load(h.Ctx); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(h.Ctx)
	t.Cleanup(stop)
	go func() { _ = auth.Follow(ctx) }()
	rev, err := account.NewRevoker(store, auth, TokenTTL, h.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	comments, err := api.New(api.Deps{Bearer: auth, Revoker: rev, Comments: store, Users: store, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// The protected API exactly as the route table (package httpserver)
	// mounts it.
	r := gin.New()
	v1 := r.Group("/api/v1")
	v1.GET("/me", auth.RequireScopes(api.ScopeProfile), comments.Me)
	v1.GET("/comments", auth.RequireScopes(api.ScopeCommentsRead), comments.ListComments)
	v1.POST("/comments", auth.RequireScopes(api.ScopeCommentsWrite), comments.PostComment)
	v1.DELETE("/comments/:id", auth.RequireScopes(api.ScopeCommentsWrite), comments.DeleteComment)
	v1.POST("/logout", auth.RequireScopes(), comments.Logout)
	return &Instance{Store: store, Auth: auth, Revoker: rev, Engine: r}
}

// UserToken mints an access token for u with the web client.
func (h *Harness) UserToken(t testing.TB, u *storage.User, scopes ...string) (string, token.AccessClaims) {
	t.Helper()
	return h.Mint(t, token.AccessRequest{Subject: u.ID, ClientID: WebClient, Scope: scopes, Roles: account.RolesCarried(u.Roles, scopes), Lifetime: TokenTTL})
}

// ClientToken mints a client-credentials token (the client is the subject).
func (h *Harness) ClientToken(t testing.TB, scopes ...string) string {
	t.Helper()
	raw, _ := h.Mint(t, token.AccessRequest{Subject: ServiceID, ClientID: ServiceID, Scope: scopes, Lifetime: TokenTTL})
	return raw
}

// Mint mints the access token req describes.
func (h *Harness) Mint(t testing.TB, req token.AccessRequest) (string, token.AccessClaims) {
	t.Helper()
	raw, claims, err := h.Minter.MintAccess(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return raw, claims
}

// Family is a stored refresh-token family and the hash of its current
// token.
type Family struct{ ID, TokenHash string }

// NewFamily stores a refresh-token family of u with clientID whose newest
// access token is a fresh one, and returns it with that token.
func (h *Harness) NewFamily(t testing.TB, u *storage.User, clientID string) (Family, string) {
	t.Helper()
	access, claims := h.Mint(t, token.AccessRequest{Subject: u.ID, ClientID: clientID, Scope: AllScopes, Roles: account.RolesCarried(u.Roles, AllScopes), Lifetime: TokenTTL})
	f := Family{ID: secret.NewToken(12), TokenHash: secret.SHA256(secret.NewToken(32))}
	generation := "" // a client the test never stored has none
	if c, err := h.Store.GetClient(h.Ctx, clientID); err == nil {
		generation = c.Generation
	}
	err := h.Store.CreateFamily(h.Ctx, storage.NewRefresh{
		Family: storage.RefreshFamily{ID: f.ID, ClientID: clientID, UserID: u.ID, Scope: AllScopes,
			ExpiresAt: h.Clock.Now().Add(time.Hour), AccessJTI: claims.JTI, AccessExpiresAt: claims.ExpiresAt,
			ClientGeneration: generation},
		TokenHash: f.TokenHash,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, access
}

// Do sends a request to the instance: testenv.Do on its engine.
func (in *Instance) Do(t testing.TB, method, path, bearer string, body any) testenv.Response {
	t.Helper()
	return testenv.Do(t, in.Engine, method, path, bearer, body)
}

// Serve sends req to the instance: testenv.Serve on its engine.
func (in *Instance) Serve(t testing.TB, req *http.Request) testenv.Response {
	t.Helper()
	return testenv.Serve(t, in.Engine, req)
}

// WaitStatus polls GET path until it answers want and returns how long
// that took; it fails t after WaitBound.
func (in *Instance) WaitStatus(t testing.TB, path, bearer string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := in.Do(t, http.MethodGet, path, bearer, nil).Code
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > WaitBound {
			t.Fatalf("GET %s still answers %d after %v, want %d", path, got, WaitBound, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
