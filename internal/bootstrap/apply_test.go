package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
)

func TestMain(m *testing.M) { testredis.Main(m) }

// cheapHasher keeps the tests fast; the production cost is secret's concern.
func cheapHasher() *secret.Hasher {
	return secret.NewHasher(secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
}

func openStore(t *testing.T) *storage.Store {
	t.Helper()
	srv := testredis.New(t)
	st, err := storage.Open(context.Background(), storage.Options{URL: srv.URL, Prefix: srv.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

const applyDoc = `
clients:
  - id: web
    secret: web-secret-1
    redirect_uris: [https://web.example/cb]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid]
  - id: spa
    public: true
    redirect_uris: [https://spa.example/cb]
    grant_types: [authorization_code]
users:
  - username: alice
    password: alice-password
    roles: [user]
`

func TestApplyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := NewApplier(st, cheapHasher(), slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now })
	apply := func(doc string) Result {
		t.Helper()
		f, err := Parse([]byte(doc), "test")
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.Apply(ctx, f, account.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	if res := apply(applyDoc); res != (Result{Created: 3}) {
		t.Fatalf("first run = %+v, want 3 created", res)
	}
	web1, _ := st.GetClient(ctx, "web")
	alice1, _ := st.GetUserByUsername(ctx, "alice")
	if ok, _ := cheapHasher().Verify(web1.SecretHash, "web-secret-1"); !ok || strings.Contains(web1.SecretHash, "web-secret-1") {
		t.Fatalf("client secret stored as %q, want a hash of web-secret-1", web1.SecretHash)
	}
	if ok, _ := cheapHasher().Verify(alice1.PasswordHash, "alice-password"); !ok {
		t.Fatal("stored password hash does not verify")
	}
	if spa, _ := st.GetClient(ctx, "spa"); spa.SecretHash != "" {
		t.Fatalf("public client got a secret hash %q", spa.SecretHash)
	}

	t.Run("unchanged file writes nothing", func(t *testing.T) {
		now = now.Add(time.Hour)
		if res := apply(applyDoc); res != (Result{Unchanged: 3}) {
			t.Fatalf("second run = %+v, want 3 unchanged", res)
		}
		web2, _ := st.GetClient(ctx, "web")
		alice2, _ := st.GetUserByUsername(ctx, "alice")
		if web2.SecretHash != web1.SecretHash || !web2.UpdatedAt.Equal(web1.UpdatedAt) {
			t.Error("an unchanged client was rewritten")
		}
		if alice2.PasswordHash != alice1.PasswordHash || alice2.ID != alice1.ID {
			t.Error("an unchanged user was rewritten or got a new ID")
		}
	})

	t.Run("changed secret and roles are updated, ID kept", func(t *testing.T) {
		doc := strings.NewReplacer("web-secret-1", "web-secret-2", "roles: [user]", "roles: [user, admin]").Replace(applyDoc)
		if res := apply(doc); res != (Result{Updated: 2, Unchanged: 1}) {
			t.Fatalf("run = %+v, want 2 updated and 1 unchanged", res)
		}
		web3, _ := st.GetClient(ctx, "web")
		if ok, _ := cheapHasher().Verify(web3.SecretHash, "web-secret-2"); !ok {
			t.Error("new client secret does not verify")
		}
		if !web3.CreatedAt.Equal(web1.CreatedAt) {
			t.Errorf("CreatedAt changed from %v to %v", web1.CreatedAt, web3.CreatedAt)
		}
		alice3, _ := st.GetUserByUsername(ctx, "alice")
		if alice3.ID != alice1.ID {
			t.Errorf("user ID changed from %q to %q", alice1.ID, alice3.ID)
		}
		if alice3.PasswordHash != alice1.PasswordHash {
			t.Error("an unchanged password was re-hashed")
		}
		if strings.Join(alice3.Roles, ",") != "user,admin" {
			t.Errorf("roles = %v, want [user admin]", alice3.Roles)
		}
	})

	t.Run("invalid file changes nothing", func(t *testing.T) {
		f, err := Parse([]byte(strings.Replace(applyDoc, "authorization_code, refresh_token", "implicit", 1)), "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Apply(ctx, f, account.Policy{}); err == nil {
			t.Fatal("Apply accepted an invalid file")
		}
		if web, _ := st.GetClient(ctx, "web"); strings.Join(web.GrantTypes, ",") != "authorization_code,refresh_token" {
			t.Errorf("grant types = %v after a refused file", web.GrantTypes)
		}
	})
}

// After Redis lost its data, applying the file again with the same
// Applier brings each user back under the ID it had, so tokens issued to
// it before stay its own.
func TestApplyAfterDataLossKeepsUserIDs(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := NewApplier(st, cheapHasher(), slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	f, err := Parse([]byte(applyDoc), "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, f, account.Policy{}); err != nil {
		t.Fatal(err)
	}
	alice, err := st.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUser(ctx, alice.ID); err != nil { // what a lost Redis looks like to alice
		t.Fatal(err)
	}
	if res, err := a.Apply(ctx, f, account.Policy{}); err != nil || res.Created != 1 {
		t.Fatalf("apply after the loss = %+v, %v; want alice created", res, err)
	}
	again, err := st.GetUserByUsername(ctx, "alice")
	if err != nil || again.ID != alice.ID || again.ManagedBy != storage.ManagedByBootstrap {
		t.Fatalf("alice after the loss = %+v, %v; want id %s, managed by the file", again, err, alice.ID)
	}
}

// Every registration field the file can set is compared: changing one of
// those added after the first ones (client_uri, DPoP, PAR) on an existing
// client updates it instead of being reported unchanged.
func TestApplyUpdatesLaterClientFields(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := NewApplier(st, cheapHasher(), slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	base := `
clients:
  - id: web
    secret: web-secret-1
    redirect_uris: [https://web.example/cb]
    grant_types: [authorization_code]
    scopes: [openid]
`
	for i, extra := range []string{
		"    client_uri: https://web.example/\n",
		"    dpop_bound_access_tokens: true\n",
		"    require_pushed_authorization_requests: true\n",
	} {
		for _, doc := range []string{base, base + extra} {
			f, err := Parse([]byte(doc), "test")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Apply(ctx, f, account.Policy{}); err != nil {
				t.Fatal(err)
			}
		}
		c, err := st.GetClient(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		if got := []bool{c.ClientURI != "", c.DPoPBoundAccessTokens, c.RequirePushedAuthorizationRequests}[i]; !got {
			t.Fatalf("%q was not applied to the existing client: %+v", strings.TrimSpace(extra), c)
		}
	}
}

// insecure_skip_consent_for_native_redirects added to a public client of
// the file updates the stored client, and removing it updates it back.
func TestApplyUpdatesSkipNativeConsent(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	a := NewApplier(st, cheapHasher(), slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	base := `
clients:
  - id: cli
    public: true
    redirect_uris: [http://127.0.0.1/cb]
    grant_types: [authorization_code]
    scopes: [openid]
`
	flag := base + "    insecure_skip_consent_for_native_redirects: true\n"
	for _, step := range []struct {
		doc  string
		want bool
	}{{base, false}, {flag, true}, {base, false}} {
		f, err := Parse([]byte(step.doc), "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Apply(ctx, f, account.Policy{}); err != nil {
			t.Fatal(err)
		}
		c, err := st.GetClient(ctx, "cli")
		if err != nil {
			t.Fatal(err)
		}
		if c.InsecureSkipConsentForNativeRedirects != step.want {
			t.Fatalf("after applying %q: flag = %v, want %v", step.doc, c.InsecureSkipConsentForNativeRedirects, step.want)
		}
	}
}
