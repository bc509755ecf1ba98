package resource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/api"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	testredis.Main(m)
}

const (
	testIssuer   = "http://localhost:8080"
	testAudience = "http://localhost:8080/api"
	webClient    = "web"
	serviceID    = "service"
	tokenTTL     = 15 * time.Minute
)

var allScopes = []string{"openid", "profile", "comments:read", "comments:write"}

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

func keySet(t testing.TB, alg string) *token.KeySet {
	t.Helper()
	sets, err := keySets()
	if err != nil {
		t.Fatal(err)
	}
	return sets[alg]
}

// clock is a settable clock; it follows the wall clock until set.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// instance is one oauth2d instance's resource side: its own Redis
// connection, Authenticator, Revoker and routes.
type instance struct {
	Store   *storage.Store
	Auth    *resource.Authenticator
	Revoker *account.Revoker
	Engine  *gin.Engine
}

type harness struct {
	t      testing.TB
	rs     *testredis.Server
	Keys   *token.KeySet
	Minter *token.Minter
	Clock  *clock
	ctx    context.Context
	*instance
	alice, bob, admin *storage.User
}

type harnessOption func(*resource.Options)

func withResync(d time.Duration) harnessOption {
	return func(o *resource.Options) { o.ResyncInterval = d }
}

// newHarness starts one instance on a fresh prefix of a real Redis, with
// users alice, bob (role user) and admin (roles user, admin).
func newHarness(t testing.TB, accessAlg string, opts ...harnessOption) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, rs: testredis.New(t), Keys: keySet(t, accessAlg), Clock: &clock{}, ctx: ctx}
	h.Minter = token.NewMinter(h.Keys, testIssuer, []string{testAudience}, h.Clock.Now)
	h.instance = h.newInstance(opts...)
	for _, u := range []**storage.User{&h.alice, &h.bob, &h.admin} {
		*u = &storage.User{PasswordHash: "x", Roles: []string{"user"}}
	}
	h.alice.Username, h.bob.Username, h.admin.Username = "alice", "bob", "admin"
	h.admin.Roles = append(h.admin.Roles, account.RoleAdmin)
	for _, u := range []*storage.User{h.alice, h.bob, h.admin} {
		if err := h.Store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// newInstance starts another instance sharing the harness's Redis prefix.
func (h *harness) newInstance(opts ...harnessOption) *instance {
	t := h.t
	t.Helper()
	store, err := storage.Open(h.ctx, storage.Options{URL: h.rs.URL, Prefix: h.rs.Prefix, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	verifier, err := token.NewVerifier(h.Keys, testIssuer, []string{testAudience}, 0, h.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	o := resource.Options{Realm: testIssuer, Now: h.Clock.Now}
	for _, f := range opts {
		f(&o)
	}
	auth, err := resource.NewAuthenticator(verifier, store, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.Load(h.ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = auth.Follow(h.ctx) }()
	rev, err := account.NewRevoker(store, auth, tokenTTL, h.Clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	comments, err := api.New(api.Deps{Bearer: auth, Revoker: rev, Comments: store, Users: store, Now: h.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// The protected API as the route table (package httpserver) mounts it.
	r := gin.New()
	v1 := r.Group("/api/v1")
	v1.GET("/me", auth.RequireScopes(api.ScopeProfile), comments.Me)
	v1.GET("/comments", auth.RequireScopes(api.ScopeCommentsRead), comments.ListComments)
	v1.POST("/comments", auth.RequireScopes(api.ScopeCommentsWrite), comments.PostComment)
	v1.DELETE("/comments/:id", auth.RequireScopes(api.ScopeCommentsWrite), comments.DeleteComment)
	v1.POST("/logout", auth.RequireScopes(), comments.Logout)
	return &instance{Store: store, Auth: auth, Revoker: rev, Engine: r}
}

// userToken mints an access token for u with the web client.
func (h *harness) userToken(u *storage.User, scopes ...string) (string, token.AccessClaims) {
	return h.mint(token.AccessRequest{Subject: u.ID, ClientID: webClient, Scope: scopes, Roles: u.Roles, Lifetime: tokenTTL})
}

// clientToken mints a client-credentials token (the client is the subject).
func (h *harness) clientToken(scopes ...string) string {
	raw, _ := h.mint(token.AccessRequest{Subject: serviceID, ClientID: serviceID, Scope: scopes, Lifetime: tokenTTL})
	return raw
}

func (h *harness) mint(req token.AccessRequest) (string, token.AccessClaims) {
	h.t.Helper()
	raw, claims, err := h.Minter.MintAccess(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return raw, claims
}

// response is a recorded response with its JSON body decoded.
type response struct {
	*httptest.ResponseRecorder
	JSON map[string]any
}

// do sends a request to the instance; body, when not nil, is sent as JSON.
func (in *instance) do(t testing.TB, method, path, bearer string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return in.serve(t, req)
}

func (in *instance) serve(t testing.TB, req *http.Request) response {
	t.Helper()
	w := httptest.NewRecorder()
	in.Engine.ServeHTTP(w, req)
	resp := response{ResponseRecorder: w}
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &resp.JSON); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", req.Method, req.URL, w.Body.String())
		}
	}
	return resp
}

// waitStatus polls until path answers want, and fails after within.
func (in *instance) waitStatus(t testing.TB, path, bearer string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := in.do(t, http.MethodGet, path, bearer, nil).Code
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("GET %s still answers %d after %v, want %d", path, got, within, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
