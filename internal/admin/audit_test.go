package admin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/audit"
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
// changes: a list of the users is worth knowing who looked at. What a
// change sets off (here the cut-off of Alice's tokens) names the admin
// as its actor.
func TestAdminReadsAndChangesAreAudited(t *testing.T) {
	rh := resourcetest.New(t, token.AlgES256)
	var logs lockedBuffer
	auditLog, err := audit.New(audit.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	adm, err := admin.New(admin.Deps{Revoker: rh.Revoker, Clients: rh.Store, Users: rh.Store, Resources: rh.Store, Factors: rh.Store,
		Hasher: secret.NewHasher(secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})})
	if err != nil {
		t.Fatal(err)
	}
	withAudit := func(c *gin.Context) {
		c.Request = c.Request.WithContext(audit.NewContext(c.Request.Context(), auditLog))
	}
	g := rh.Engine.Group("/admin/v1", withAudit, rh.Auth.RequireScopes(account.ScopeAdmin), adm.Audit)
	g.GET("/users", adm.ListUsers)
	g.GET("/users/:id", adm.GetUser)
	g.POST("/users/:id/revoke-tokens", adm.RevokeUserTokens)
	bearer, _ := rh.Mint(t, token.AccessRequest{Subject: rh.Admin.ID, ClientID: "ops-console", Scope: []string{account.ScopeAdmin}, Lifetime: resourcetest.TokenTTL})

	for _, req := range []struct{ method, path, event, resource, subject string }{
		{http.MethodGet, "/admin/v1/users?limit=2", audit.AdminRead, "GET /admin/v1/users?limit=2", ""},
		{http.MethodGet, "/admin/v1/users/" + rh.Alice.ID, audit.AdminRead, "GET /admin/v1/users/" + rh.Alice.ID, rh.Alice.ID},
		{http.MethodPost, "/admin/v1/users/" + rh.Alice.ID + "/revoke-tokens", audit.AdminChange, "POST /admin/v1/users/" + rh.Alice.ID + "/revoke-tokens", rh.Alice.ID},
		{http.MethodGet, "/admin/v1/users/nobody", audit.AdminRead, "GET /admin/v1/users/nobody", "nobody"},
	} {
		resp := rh.Do(t, req.method, req.path, bearer, nil)
		want := map[string]any{"event": req.event, "actor": "admin:" + rh.Admin.ID, "client": "ops-console", "resource": req.resource, "outcome": audit.Success}
		if req.subject != "" {
			want["subject"] = req.subject
		}
		if resp.Code != http.StatusOK {
			want["outcome"], want["reason"] = audit.Failure, fmt.Sprintf("HTTP %d", resp.Code)
		}
		if !slices.ContainsFunc(logs.lines(), func(l map[string]any) bool { return l["msg"] == "audit" && maps.Equal(auditFields(l), want) }) {
			t.Errorf("%s %s not audited as %v; log:\n%v", req.method, req.path, want, logs.lines())
		}
	}
	cutOff := map[string]any{"event": audit.TokensCutOff, "outcome": audit.Success, "actor": "admin:" + rh.Admin.ID, "subject": rh.Alice.ID, "resource": "user:" + rh.Alice.ID}
	if !slices.ContainsFunc(logs.lines(), func(l map[string]any) bool { return l["msg"] == "audit" && maps.Equal(auditFields(l), cutOff) }) {
		t.Errorf("revoke-tokens: no %v; log:\n%v", cutOff, logs.lines())
	}
}

// auditFields are an audit line's fields but its time (which is always
// there).
func auditFields(line map[string]any) map[string]any {
	fields, _ := line["audit"].(map[string]any)
	out := maps.Clone(fields)
	delete(out, "time")
	return out
}
