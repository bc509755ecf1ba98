package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// adminEnv points the admin commands at a real Redis under a fresh prefix
// and returns a store on the same data for the test's own checks.
func adminEnv(t *testing.T) (map[string]string, *storage.Store) {
	t.Helper()
	inEmptyDir(t)
	srv := testredis.New(t)
	st, err := storage.Open(context.Background(), storage.Options{URL: srv.URL, Prefix: srv.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return map[string]string{"OAUTH2D_REDIS_URL": srv.URL, "OAUTH2D_REDIS_PREFIX": srv.Prefix}, st
}

func mustRun(t *testing.T, env map[string]string, stdin string, args ...string) string {
	t.Helper()
	res := runCmd(t, env, stdin, args...)
	if res.err != nil {
		t.Fatalf("oauth2d %s: %v\nstderr: %s", strings.Join(args, " "), res.err, res.stderr)
	}
	return res.stdout
}

func TestClientCommands(t *testing.T) {
	env, st := adminEnv(t)
	ctx := context.Background()

	// A confidential client: the generated secret is printed once and
	// stored only as a hash.
	out := mustRun(t, env, "", "client", "create", "--json", "--id", "web", "--name", "Web",
		"--redirect-uri", "https://web.example/cb", "--grant-type", "authorization_code",
		"--grant-type", "refresh_token", "--scope", "openid profile", "--scope", "comments:read")
	var created struct {
		Client       admin.ClientView `json:"client"`
		ClientSecret string           `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("client create --json printed %q: %v", out, err)
	}
	if len(created.ClientSecret) < 40 {
		t.Fatalf("generated secret %q is too short", created.ClientSecret)
	}
	web, err := st.GetClient(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := secret.Verify(web.SecretHash, created.ClientSecret); !ok {
		t.Fatal("the stored hash does not verify the printed secret")
	}
	if got := strings.Join(web.Scopes, " "); got != "openid profile comments:read" {
		t.Errorf("scopes = %q", got)
	}

	// A secret piped in is used and not echoed.
	out = mustRun(t, env, "piped-secret-0123456789\n", "client", "create", "--id", "svc",
		"--secret-stdin", "--grant-type", "client_credentials", "--scope", "comments:read")
	if strings.Contains(out, "piped-secret") {
		t.Errorf("a supplied secret was echoed: %q", out)
	}
	svc, _ := st.GetClient(ctx, "svc")
	if ok, _ := secret.Verify(svc.SecretHash, "piped-secret-0123456789"); !ok {
		t.Fatal("the stored hash does not verify the piped secret")
	}

	// A public client has no secret; a generated id is usable.
	out = mustRun(t, env, "", "client", "create", "--public", "--first-party",
		"--redirect-uri", "http://127.0.0.1:9001/cb", "--grant-type", "authorization_code")
	if strings.Contains(out, "client_secret") {
		t.Errorf("a public client got a secret: %q", out)
	}
	publicID := strings.TrimSpace(strings.TrimPrefix(out, "client_id:"))
	if pub, err := st.GetClient(ctx, publicID); err != nil || pub.SecretHash != "" || !pub.Public {
		t.Fatalf("public client %q = %+v, %v", publicID, pub, err)
	}

	res := runCmd(t, env, "", "client", "create", "--id", "web", "--grant-type", "client_credentials")
	if exitCode(res.err) != 1 || !strings.Contains(res.err.Error(), `client "web" already exists`) {
		t.Fatalf("duplicate create = %v, want exit 1 naming the client", res.err)
	}

	out = mustRun(t, env, "", "client", "list", "--json")
	if strings.Contains(out, "secret") || strings.Contains(out, "argon2") {
		t.Fatalf("client list leaks secrets: %s", out)
	}
	var list struct{ Clients []admin.ClientView }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Clients) != 3 {
		t.Fatalf("client list --json = %s (%v), want 3 clients", out, err)
	}
	if out := mustRun(t, env, "", "client", "list"); !strings.Contains(out, "web ") || !strings.Contains(out, "confidential") {
		t.Errorf("client list table lacks web:\n%s", out)
	}

	out = mustRun(t, env, "", "client", "get", "web")
	if !strings.Contains(out, "https://web.example/cb") || strings.Contains(out, "argon2") {
		t.Errorf("client get:\n%s", out)
	}
	var got admin.ClientView
	if err := json.Unmarshal([]byte(mustRun(t, env, "", "client", "get", "--json", "--id", "web")), &got); err != nil || got.Name != "Web" {
		t.Errorf("client get --json = %+v, %v", got, err)
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "", "client", "get", "web", "--json")), &got); err != nil || got.Name != "Web" {
		t.Errorf("client get web --json = %+v, %v", got, err)
	}

	mustRun(t, env, "", "client", "delete", "web")
	if _, err := st.GetClient(ctx, "web"); err == nil {
		t.Fatal("client still stored after delete")
	}
	assertCutoff(t, st, storage.ClientCutoff("web"))
	for _, args := range [][]string{{"client", "get", "web"}, {"client", "delete", "web"}} {
		res := runCmd(t, env, "", args...)
		if exitCode(res.err) != 1 || !errors.Is(res.err, storage.ErrNotFound) || !strings.Contains(res.err.Error(), `"web"`) {
			t.Errorf("%v on a deleted client = %v, want exit 1 saying client \"web\" is not found", args, res.err)
		}
	}
}

func TestUserCommands(t *testing.T) {
	env, st := adminEnv(t)
	ctx := context.Background()

	out := mustRun(t, env, "carol-password\n", "user", "create", "--json", "--username", "carol",
		"--role", "user", "--role", "admin", "--email", "carol@example.com")
	var created admin.UserView
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" {
		t.Fatalf("user create --json = %q (%v)", out, err)
	}
	carol, err := st.GetUserByUsername(ctx, "carol")
	if err != nil || carol.ID != created.ID {
		t.Fatalf("stored user = %+v, %v", carol, err)
	}
	if ok, _ := secret.Verify(carol.PasswordHash, "carol-password"); !ok {
		t.Fatal("stored hash does not verify the piped password")
	}
	if strings.Join(carol.Roles, ",") != "user,admin" {
		t.Errorf("roles = %v", carol.Roles)
	}

	res := runCmd(t, env, "another-password\n", "user", "create", "--username", "carol")
	if exitCode(res.err) != 1 || !strings.Contains(res.err.Error(), "taken") {
		t.Fatalf("duplicate user create = %v, want exit 1", res.err)
	}

	out = mustRun(t, env, "", "user", "list", "--json")
	if strings.Contains(out, "argon2") || strings.Contains(out, "password") || !strings.Contains(out, `"carol"`) {
		t.Fatalf("user list --json = %s", out)
	}

	// Deleting a user ends their sessions: the refresh family is revoked
	// and every access token issued to them is cut off.
	family := storage.RefreshFamily{
		ID: "fam1", ClientID: "web", UserID: carol.ID, Scope: []string{"openid"},
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
	}
	if err := st.CreateFamily(ctx, storage.NewRefresh{Family: family, TokenHash: secret.SHA256("rt"), Sliding: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// ... and signs them out of their browser sessions, as the admin API
	// does (the relying parties are told over the back channel).
	if err := st.SaveSession(ctx, secret.SHA256("carol-cookie"), &storage.BrowserSession{UserID: carol.ID, SID: "carol-sid",
		CSRFToken: "x", CreatedAt: time.Now(), LastSeen: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveSessionLogin(ctx, &storage.SessionLogin{SID: "carol-sid", UserID: carol.ID, SessionHash: secret.SHA256("carol-cookie"),
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mustRun(t, env, "", "user", "delete", "carol")
	if _, err := st.GetSession(ctx, secret.SHA256("carol-cookie")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the user's browser session after delete: %v, want storage.ErrNotFound", err)
	}
	if _, err := st.GetSessionLogin(ctx, "carol-sid"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the user's session login after delete: %v, want storage.ErrNotFound", err)
	}
	if _, err := st.GetUserByUsername(ctx, "carol"); err == nil {
		t.Fatal("user still stored after delete")
	}
	if _, err := st.CheckRefresh(ctx, "fam1", secret.SHA256("rt")); !errors.Is(err, storage.ErrRevoked) {
		t.Errorf("the user's refresh family after delete: %v, want storage.ErrRevoked", err)
	}
	assertCutoff(t, st, storage.SubjectCutoff(carol.ID))
	if res := runCmd(t, env, "", "user", "delete", "carol"); exitCode(res.err) != 1 {
		t.Errorf("deleting a missing user = %v, want exit 1", res.err)
	}
}

func TestKeysCommands(t *testing.T) {
	env, _ := adminEnv(t)
	env["OAUTH2D_KEYS_SOURCE"] = "redis"
	env["OAUTH2D_KEY_ENCRYPTION_KEY"] = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	env["OAUTH2D_KEYS_ID_TOKEN_ALGORITHM"] = "ES256" // skip RSA key generation: it is slow under -race

	type keysOut struct {
		Keys []struct{ Kid, Alg, State string }
	}
	parse := func(out string) keysOut {
		var k keysOut
		if err := json.Unmarshal([]byte(out), &k); err != nil {
			t.Fatalf("keys --json printed %q: %v", out, err)
		}
		return k
	}
	if k := parse(mustRun(t, env, "", "keys", "list", "--json")); len(k.Keys) != 0 {
		t.Fatalf("fresh prefix has keys: %+v", k)
	}
	states := func(k keysOut) map[string]string {
		m := map[string]string{}
		for _, key := range k.Keys {
			if key.Alg != "ES256" {
				t.Errorf("key %s has alg %q, want ES256", key.Kid, key.Alg)
			}
			m[key.Kid] = key.State
		}
		return m
	}
	count := func(m map[string]string, state string) int {
		n := 0
		for _, s := range m {
			if s == state {
				n++
			}
		}
		return n
	}
	// On an empty store the first rotation makes an active key and
	// pre-publishes the next one.
	s1 := states(parse(mustRun(t, env, "", "keys", "rotate", "--json")))
	if len(s1) != 2 || count(s1, "active") != 1 || count(s1, "next") != 1 {
		t.Fatalf("first rotate = %v, want one active and one next key", s1)
	}
	// The second promotes the next key, retires the active one and
	// publishes a fresh next key.
	s2 := states(parse(mustRun(t, env, "", "keys", "rotate", "--json")))
	if len(s2) != 3 || count(s2, "retired") != 1 || count(s2, "active") != 1 || count(s2, "next") != 1 {
		t.Fatalf("second rotate = %v, want one retired, one active and one next key", s2)
	}
	for kid, state := range s1 {
		want := map[string]string{"active": "retired", "next": "active"}[state]
		if s2[kid] != want {
			t.Errorf("key %s was %s, after rotation %q, want %q", kid, state, s2[kid], want)
		}
	}
	if listed := states(parse(mustRun(t, env, "", "keys", "list", "--json"))); !maps.Equal(listed, s2) {
		t.Errorf("keys list = %v, want what rotate printed: %v", listed, s2)
	}
	if out := mustRun(t, env, "", "keys", "list"); !strings.Contains(out, "ES256") || !strings.Contains(out, "retired") {
		t.Errorf("keys list table:\n%s", out)
	}
	env["OAUTH2D_KEY_ENCRYPTION_KEY"] = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 32)))
	if res := runCmd(t, env, "", "keys", "rotate"); exitCode(res.err) != 1 {
		t.Errorf("rotate under the wrong encryption key = %v, want exit 1", res.err)
	}
}

// assertCutoff checks that every access token of principal issued until
// now is revoked, for at least the default access-token lifetime.
func assertCutoff(t *testing.T, st *storage.Store, principal string) {
	t.Helper()
	cutoffs, err := st.Cutoffs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, ok := cutoffs[principal]
	switch {
	case !ok:
		t.Errorf("no revocation cutoff for %s", principal)
	case time.Since(c.NotBefore) > time.Minute || time.Until(c.Until) < 15*time.Minute:
		t.Errorf("cutoff for %s = %+v, want from about now for at least 15m", principal, c)
	}
}
