package admin_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/token"
)

// signOuts records whom the admin API signed out of their sessions.
type signOuts struct {
	mu    sync.Mutex
	users []string
}

func (s *signOuts) UserSignedOut(_ context.Context, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = append(s.users, userID)
	return nil
}

// storePasskeys says whether a user has passkeys, as the passkey work does.
type storePasskeys struct{ s *storage.Store }

func (p storePasskeys) HasPasskeys(ctx context.Context, userID string) (bool, error) {
	l, err := p.s.ListPasskeys(ctx, userID)
	return len(l) > 0, err
}

// enrolFactors gives u a confirmed TOTP factor with recovery codes and two
// passkeys, through the storage calls the account pages make.
func enrolFactors(t *testing.T, s *storage.Store, u *storage.User) [][]byte {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	if err := s.SetPendingTOTP(ctx, u.ID, &storage.TOTPFactor{ID: "t1", Sealed: "sealed-secret", CreatedAt: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(ctx, u.ID, "t1", 1, []string{"h1", "h2", "h3"}); err != nil {
		t.Fatal(err)
	}
	ids := [][]byte{[]byte("credential-one"), []byte("credential-two")}
	for i, id := range ids {
		p := &storage.Passkey{ID: id, UserID: u.ID, Name: "key " + string(rune('A'+i)), PublicKey: []byte("cose-key"), BackupState: i == 1, CreatedAt: now.Add(time.Duration(i) * time.Second)}
		if err := s.AddPasskey(ctx, []byte("handle-"+u.ID), p); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// An admin lists a user's factors, removes one passkey, then every factor
// ("a lost phone"): each removal is audited, revokes the user's tokens,
// signs them out, and leaves a user whose role requires a factor to enrol
// again.
func TestAdminResetsSecondFactors(t *testing.T) {
	rh := resourcetest.New(t, token.AlgES256)
	var logs lockedBuffer
	auditLog, err := audit.New(audit.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	outs := &signOuts{}
	adm, err := admin.New(admin.Deps{Revoker: rh.Revoker, Logouts: outs, Clients: rh.Store, Users: rh.Store, Resources: rh.Store, Factors: rh.Store,
		Hasher: secret.NewHasher(secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})})
	if err != nil {
		t.Fatal(err)
	}
	withAudit := func(c *gin.Context) {
		c.Request = c.Request.WithContext(audit.NewContext(c.Request.Context(), auditLog))
	}
	g := rh.Engine.Group("/admin/v1", withAudit, rh.Auth.RequireScopes(account.ScopeAdmin), adm.RequireAdmin, adm.Audit)
	g.GET("/users/:id/factors", adm.GetFactors)
	g.DELETE("/users/:id/factors", adm.ResetFactors)
	g.DELETE("/users/:id/factors/passkeys/:credential_id", adm.DeletePasskey)
	bearer, _ := rh.Mint(t, token.AccessRequest{Subject: rh.Admin.ID, ClientID: "ops-console", Scope: []string{account.ScopeAdmin},
		Roles: account.RolesCarried(rh.Admin.Roles, []string{account.ScopeAdmin}), Lifetime: resourcetest.TokenTTL})
	alice := "/admin/v1/users/" + rh.Alice.ID + "/factors"
	ids := enrolFactors(t, rh.Store, rh.Alice)

	t.Run("auth required", func(t *testing.T) {
		notAdmin, _ := rh.Mint(t, token.AccessRequest{Subject: rh.Alice.ID, ClientID: "web", Scope: []string{"profile"}, Lifetime: resourcetest.TokenTTL})
		for _, tc := range []struct {
			name, method, bearer string
			status               int
		}{
			{"no token list", http.MethodGet, "", 401},
			{"no token reset", http.MethodDelete, "", 401},
			{"no scope admin", http.MethodDelete, notAdmin, 403},
		} {
			if resp := rh.Do(t, tc.method, alice, tc.bearer, nil); resp.Code != tc.status {
				t.Errorf("%s: status %d, want %d", tc.name, resp.Code, tc.status)
			}
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodDelete} {
			if resp := rh.Do(t, m, "/admin/v1/users/nobody/factors", bearer, nil); resp.Code != 404 {
				t.Errorf("%s: status %d, want 404", m, resp.Code)
			}
		}
	})

	resp := rh.Do(t, http.MethodGet, alice, bearer, nil)
	body := resp.Body.String()
	if resp.Code != 200 || resp.JSON["totp"] == nil || resp.JSON["recovery_codes_left"] != float64(3) {
		t.Fatalf("list: %d %s", resp.Code, body)
	}
	if pk, _ := resp.JSON["passkeys"].([]any); len(pk) != 2 || pk[1].(map[string]any)["backup_state"] != true {
		t.Fatalf("list passkeys: %s", body)
	}
	for _, leak := range []string{"sealed-secret", "cose-key", base64.StdEncoding.EncodeToString([]byte("cose-key")), `"h1"`} {
		if strings.Contains(body, leak) {
			t.Fatalf("list shows a secret %q: %s", leak, body)
		}
	}

	// One passkey goes; the user's tokens go with it.
	access, _ := rh.UserToken(t, rh.Alice, "comments:read")
	one := alice + "/passkeys/" + base64.RawURLEncoding.EncodeToString(ids[0])
	if resp := rh.Do(t, http.MethodDelete, one, bearer, nil); resp.Code != 204 {
		t.Fatalf("delete passkey: %d %s", resp.Code, resp.Body)
	}
	for _, path := range []string{one, alice + "/passkeys/not*base64", alice + "/passkeys/" + strings.Repeat("A", 2000)} {
		if resp := rh.Do(t, http.MethodDelete, path, bearer, nil); resp.Code != 404 {
			t.Fatalf("delete passkey %.60s: %d, want 404", path, resp.Code)
		}
	}
	if resp := rh.Do(t, http.MethodGet, "/api/v1/comments", access, nil); resp.Code != 401 {
		t.Fatalf("access token after a passkey removal: %d, want 401", resp.Code)
	}

	// Everything goes.
	rh.Clock.Advance(time.Second) // a token issued now postdates the first cut-off
	family, familyAccess := rh.NewFamily(t, rh.Alice, "mobile")
	if resp := rh.Do(t, http.MethodDelete, alice, bearer, nil); resp.Code != 204 {
		t.Fatalf("reset: %d %s", resp.Code, resp.Body)
	}
	resp = rh.Do(t, http.MethodGet, alice, bearer, nil)
	if resp.JSON["totp"] != nil || resp.JSON["recovery_codes_left"] != float64(0) || len(resp.JSON["passkeys"].([]any)) != 0 {
		t.Fatalf("after reset: %s", resp.Body)
	}
	if resp := rh.Do(t, http.MethodGet, "/api/v1/comments", familyAccess, nil); resp.Code != 401 {
		t.Fatalf("session's access token after reset: %d, want 401", resp.Code)
	}
	if _, err := rh.Store.CheckRefresh(rh.Ctx, family.ID, family.TokenHash); !errors.Is(err, storage.ErrRevoked) {
		t.Fatalf("refresh token after reset: %v, want storage.ErrRevoked", err)
	}
	outs.mu.Lock()
	if len(outs.users) != 2 || outs.users[1] != rh.Alice.ID {
		t.Fatalf("signed out %v, want alice twice", outs.users)
	}
	outs.mu.Unlock()

	policy := &account.MFAPolicy{Factors: &account.SecondFactors{Store: rh.Store, Passkeys: storePasskeys{rh.Store}}, RequiredRoles: []string{"user"}}
	if has, err := policy.Factors.Has(rh.Ctx, rh.Alice.ID); err != nil || has {
		t.Fatalf("alice still has a factor: %v %v", has, err)
	}
	if req, err := policy.Required(rh.Ctx, rh.Alice); err != nil || !req {
		t.Fatalf("alice need not enrol again: %v %v", req, err)
	}

	for _, reason := range []string{"passkey removed: " + base64.RawURLEncoding.EncodeToString(ids[0]), "second factors removed: totp, recovery_codes, passkeys:1"} {
		found := false
		for _, l := range logs.lines() {
			f := auditFields(l)
			found = found || (f["event"] == audit.AdminChange && f["reason"] == reason && f["subject"] == rh.Alice.ID && f["outcome"] == audit.Success)
		}
		if !found {
			t.Errorf("no admin_change with reason %q; log:\n%v", reason, logs.lines())
		}
	}
}

// failingRemoval is the store whose removal of TOTP fails once, as Redis
// going away mid-reset would make it.
type failingRemoval struct {
	admin.FactorStore
	fails int
}

func (f *failingRemoval) RemoveSecondFactors(ctx context.Context, userID string) error {
	if f.fails > 0 {
		f.fails--
		return errors.New("storage: redis: connection refused")
	}
	return f.FactorStore.RemoveSecondFactors(ctx, userID)
}

// A reset that fails half-way answers 500 without ending anything, and
// repeating it finishes the job.
func TestAdminResetFactorsFailsSafe(t *testing.T) {
	rh := resourcetest.New(t, token.AlgES256)
	store := &failingRemoval{FactorStore: rh.Store, fails: 1}
	adm, err := admin.New(admin.Deps{Revoker: rh.Revoker, Clients: rh.Store, Users: rh.Store, Resources: rh.Store, Factors: store,
		Hasher: secret.NewHasher(secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})})
	if err != nil {
		t.Fatal(err)
	}
	g := rh.Engine.Group("/admin/v1", rh.Auth.RequireScopes(account.ScopeAdmin), adm.RequireAdmin, adm.Audit)
	g.GET("/users/:id/factors", adm.GetFactors)
	g.DELETE("/users/:id/factors", adm.ResetFactors)
	bearer, _ := rh.Mint(t, token.AccessRequest{Subject: rh.Admin.ID, ClientID: "ops-console", Scope: []string{account.ScopeAdmin},
		Roles: account.RolesCarried(rh.Admin.Roles, []string{account.ScopeAdmin}), Lifetime: resourcetest.TokenTTL})
	enrolFactors(t, rh.Store, rh.Alice)
	path := "/admin/v1/users/" + rh.Alice.ID + "/factors"
	if resp := rh.Do(t, http.MethodDelete, path, bearer, nil); resp.Code != 500 || resp.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("reset with redis failing: %d %q", resp.Code, resp.Header().Get("Content-Type"))
	}
	if resp := rh.Do(t, http.MethodGet, path, bearer, nil); resp.JSON["totp"] == nil {
		t.Fatalf("the failed reset reported no totp left: %s", resp.Body)
	}
	if resp := rh.Do(t, http.MethodDelete, path, bearer, nil); resp.Code != 204 {
		t.Fatalf("retried reset: %d %s", resp.Code, resp.Body)
	}
	if resp := rh.Do(t, http.MethodGet, path, bearer, nil); resp.JSON["totp"] != nil || len(resp.JSON["passkeys"].([]any)) != 0 {
		t.Fatalf("after the retried reset: %s", resp.Body)
	}
}
