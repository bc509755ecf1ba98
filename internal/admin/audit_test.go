package admin_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/token"
)

// lockedBuffer is a log sink the handler and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// Every admin request is audited with who made it, reads as well as
// changes: a list of the users is worth knowing who looked at.
func TestAdminReadsAndChangesAreAudited(t *testing.T) {
	rh := resourcetest.New(t, token.AlgES256)
	var logs lockedBuffer
	adm, err := admin.New(admin.Deps{Revoker: rh.Revoker, Clients: rh.Store, Users: rh.Store, Resources: rh.Store,
		Hasher: secret.NewHasher(secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	g := rh.Engine.Group("/admin/v1", rh.Auth.RequireScopes(account.ScopeAdmin), adm.Audit)
	g.GET("/users", adm.ListUsers)
	g.GET("/users/:id", adm.GetUser)
	g.POST("/users/:id/revoke-tokens", adm.RevokeUserTokens)
	bearer, _ := rh.Mint(t, token.AccessRequest{Subject: rh.Admin.ID, ClientID: "ops-console", Scope: []string{account.ScopeAdmin}, Lifetime: resourcetest.TokenTTL})

	for _, req := range []struct{ method, path, msg string }{
		{http.MethodGet, "/admin/v1/users?limit=2", "admin: read"},
		{http.MethodGet, "/admin/v1/users/" + rh.Alice.ID, "admin: read"},
		{http.MethodPost, "/admin/v1/users/" + rh.Alice.ID + "/revoke-tokens", "admin: change"},
	} {
		if resp := rh.Do(t, req.method, req.path, bearer, nil); resp.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", req.method, req.path, resp.Code, resp.Body)
		}
		var found bool
		for _, l := range logs.lines() {
			if l["msg"] == req.msg && l["method"] == req.method && strings.HasPrefix(req.path, l["path"].(string)) {
				found = true
				if l["sub"] != rh.Admin.ID || l["client_id"] != "ops-console" || l["status"] != float64(http.StatusOK) {
					t.Errorf("%s %s audited as %v", req.method, req.path, l)
				}
			}
		}
		if !found {
			t.Errorf("%s %s not audited as %q; log:\n%v", req.method, req.path, req.msg, logs.lines())
		}
	}
}
