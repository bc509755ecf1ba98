package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// `user factors` lists a user's factors without their secrets; `user
// reset-factors` ("a lost phone") removes them all, ends the user's
// tokens and sessions as `user delete` does, and is audited with what it
// removed.
func TestUserFactorCommands(t *testing.T) {
	env, st := adminEnv(t)
	env["OAUTH2D_LOG_FORMAT"] = "text"
	ctx := context.Background()
	erin := &storage.User{Username: "erin", PasswordHash: "x", Roles: []string{"user"}}
	if err := st.CreateUser(ctx, erin); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.SetPendingTOTP(ctx, erin.ID, &storage.TOTPFactor{ID: "t1", Sealed: "sealed-secret", CreatedAt: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.ConfirmTOTP(ctx, erin.ID, "t1", 1, []string{"h1", "h2"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddPasskey(ctx, []byte("erin-handle"), &storage.Passkey{ID: []byte("cred"), UserID: erin.ID, Name: "YubiKey", PublicKey: []byte("cose-key"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	family := storage.RefreshFamily{ID: "fam-erin", ClientID: "web", UserID: erin.ID, Scope: []string{"openid"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := st.CreateFamily(ctx, storage.NewRefresh{Family: family, TokenHash: secret.SHA256("rt"), Sliding: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSession(ctx, secret.SHA256("erin-cookie"), &storage.BrowserSession{UserID: erin.ID, SID: "erin-sid",
		CSRFToken: "x", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveSessionLogin(ctx, &storage.SessionLogin{SID: "erin-sid", UserID: erin.ID, SessionHash: secret.SHA256("erin-cookie"),
		ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	var v admin.FactorsView
	out := mustRun(t, env, "", "user", "factors", "--json", "erin")
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.TOTP == nil || v.RecoveryCodesLeft != 2 || len(v.Passkeys) != 1 || v.Passkeys[0].Name != "YubiKey" {
		t.Fatalf("user factors --json = %s (%v)", out, err)
	}
	if out := mustRun(t, env, "", "user", "factors", erin.ID); !strings.Contains(out, "totp") || !strings.Contains(out, "YubiKey") || strings.Contains(out, "sealed") {
		t.Fatalf("user factors by id:\n%s", out)
	}

	res := runCmd(t, env, "", "user", "reset-factors", "erin")
	if res.err != nil {
		t.Fatalf("user reset-factors: %v\n%s", res.err, res.stderr)
	}
	if !strings.Contains(res.stderr, `audit.reason="second factors removed: totp, recovery_codes, passkeys:1"`) {
		t.Errorf("reset-factors not audited with what it removed:\n%s", res.stderr)
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "", "user", "factors", "--json", "erin")), &v); err != nil || v.TOTP != nil || v.RecoveryCodesLeft != 0 || len(v.Passkeys) != 0 {
		t.Fatalf("after reset-factors: %+v, %v", v, err)
	}
	if _, err := st.CheckRefresh(ctx, family.ID, secret.SHA256("rt")); !errors.Is(err, storage.ErrRevoked) {
		t.Errorf("refresh token after reset-factors: %v, want storage.ErrRevoked", err)
	}
	assertCutoff(t, st, storage.SubjectCutoff(erin.ID))
	if _, err := st.GetSession(ctx, secret.SHA256("erin-cookie")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("browser session after reset-factors: %v, want storage.ErrNotFound", err)
	}
	if res := runCmd(t, env, "", "user", "reset-factors", "nobody"); exitCode(res.err) != 1 || !errors.Is(res.err, storage.ErrNotFound) {
		t.Errorf("reset-factors of an unknown user = %v, want exit 1, not found", res.err)
	}
}
