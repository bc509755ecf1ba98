package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/token"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// logBuffer is a log the server writes and the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// auditTrail reads the audit events of one server, from its log and its
// stream.
type auditTrail struct {
	t    *testing.T
	s    *webtest.Server
	logs *logBuffer
}

// logged are the audit events of the log, each as its schema fields.
func (a *auditTrail) logged() []map[string]string {
	var out []map[string]string
	for _, line := range strings.Split(a.logs.String(), "\n") {
		var l struct {
			Msg   string            `json:"msg"`
			Audit map[string]string `json:"audit"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "audit" {
			out = append(out, l.Audit)
		}
	}
	return out
}

// streamed are the events of the stream.
func (a *auditTrail) streamed() []map[string]string {
	entries, err := a.s.Store.Redis().XRange(a.t.Context(), a.s.Store.AuditStreamKey(), "-", "+").Result()
	if err != nil {
		a.t.Fatal(err)
	}
	var out []map[string]string
	for _, e := range entries {
		m := map[string]string{}
		for k, v := range e.Values {
			m[k] = v.(string)
		}
		out = append(out, m)
	}
	return out
}

// want waits (the stream is written in the background, back-channel
// deliveries happen in a worker) until an event with every field of
// want is in the log and in the stream, and returns it.
func (a *auditTrail) want(want map[string]string) map[string]string {
	a.t.Helper()
	match := func(evs []map[string]string) map[string]string {
		for _, ev := range evs {
			ok := ev["time"] != "" && ev["request_id"] != "" || want["event"] == audit.BackchannelLogout
			for k, v := range want {
				ok = ok && ev[k] == v
			}
			if ok {
				return ev
			}
		}
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		logged, streamed := match(a.logged()), match(a.streamed())
		if logged != nil && streamed != nil {
			return streamed
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("no audit event %v (in log: %t, in stream: %t); log:\n%s", want, logged != nil, streamed != nil, a.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every kind of audit event is recorded, with the schema's fields, in
// the log and in the stream, when the real pages and endpoints are
// driven; no password appears in either.
func TestAuditEvents(t *testing.T) {
	logs := &logBuffer{}
	s := webtest.New(t, webtest.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	a := &auditTrail{t: t, s: s, logs: logs}
	ctx := t.Context()
	alice := s.Alice.ID
	const wrongPassword = "not-alices-password-4b1d"
	const cliID, cliSecret = "audit-cli", "audit-cli-secret-0123456789"
	delivered := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer delivered.Close()
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) }))
	defer refused.Close()
	for _, c := range []*storage.Client{
		{ID: cliID, FirstParty: true, SecretHash: testenv.Hash(t, cliSecret), GrantTypes: []string{"password", "refresh_token"},
			Scopes: []string{"openid", "profile", "offline_access"}},
		{ID: "audit-rp", SecretHash: testenv.Hash(t, "audit-rp-secret"), GrantTypes: []string{"authorization_code", "refresh_token"},
			Scopes: webtest.AllScopes, RedirectURIs: []string{s.RedirectURI}, BackchannelLogoutURI: delivered.URL + "/bcl"},
		{ID: "audit-rp-refuses", SecretHash: testenv.Hash(t, "audit-rp-refuses-secret"), GrantTypes: []string{"authorization_code"},
			Scopes: webtest.AllScopes, RedirectURIs: []string{s.RedirectURI}, BackchannelLogoutURI: refused.URL + "/bcl"},
	} {
		if err := s.Store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// Sign-in failures: a wrong password names the user; a username
	// that is no one's is named by a hash (it may be a password).
	b := s.NewBrowser(t)
	b.SubmitLogin(b.Get("/login"), "alice", wrongPassword)
	a.want(map[string]string{"event": audit.SignIn, "outcome": audit.Failure, "subject": alice, "reason": "bad_credentials", "ip": "127.0.0.1"})
	b.SubmitLogin(b.Get("/login"), wrongPassword, wrongPassword)
	a.want(map[string]string{"event": audit.SignIn, "outcome": audit.Failure, "subject": audit.UnknownUsername(wrongPassword)})

	// The code flow: sign-in, consent, tokens.
	params, verifier := webtest.CodeRequest("audit-rp", "openid profile offline_access")
	consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
	a.want(map[string]string{"event": audit.SignIn, "outcome": audit.Success, "actor": alice, "subject": alice})
	cb := s.Callback(t, b.SubmitConsent(consent, "allow"))
	a.want(map[string]string{"event": audit.ConsentGranted, "outcome": audit.Success, "actor": alice, "subject": alice,
		"client": "audit-rp", "scope": "openid profile offline_access"})
	tokens := s.Exchange(t, cb.Get("code"), verifier, "audit-rp", "audit-rp-secret")
	issued := a.want(map[string]string{"event": audit.TokenIssued, "outcome": audit.Success, "grant_type": "authorization_code",
		"client": "audit-rp", "subject": alice, "scope": "openid profile offline_access"})
	claims := accessClaims(t, tokens.Str("access_token"))
	if aud := fmt.Sprint(claims["aud"]); issued["jti"] != claims["jti"] || issued["aud"] == "" || !strings.Contains(aud, strings.Split(issued["aud"], " ")[0]) {
		t.Errorf("token.issued jti %q aud %q, the token's %v %v", issued["jti"], issued["aud"], claims["jti"], claims["aud"])
	}

	// Refresh, then the rotated token again: reuse.
	oldRefresh := tokens.Str("refresh_token")
	if res := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {oldRefresh}}, "audit-rp", "audit-rp-secret"); res.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.Status, res.Raw)
	}
	a.want(map[string]string{"event": audit.TokenIssued, "grant_type": "refresh_token", "client": "audit-rp", "subject": alice})
	if res := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {oldRefresh}}, "audit-rp", "audit-rp-secret"); res.Status != http.StatusBadRequest {
		t.Fatalf("a reused refresh token: %d %s", res.Status, res.Raw)
	}
	family, _, _ := strings.Cut(oldRefresh, ".")
	a.want(map[string]string{"event": audit.RefreshReuse, "outcome": audit.Failure, "client": "audit-rp", "grant_type": "refresh_token",
		"resource": "refresh_token_family:" + family})

	// The password grant, and RFC 7009 revocation of its access token.
	pw := s.PostToken(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {webtest.AlicePassword},
		"scope": {"openid profile"}}, cliID, cliSecret)
	a.want(map[string]string{"event": audit.SignIn, "outcome": audit.Success, "subject": alice, "client": cliID, "grant_type": "password"})
	a.want(map[string]string{"event": audit.TokenIssued, "grant_type": "password", "client": cliID, "subject": alice, "scope": "openid profile"})
	revokeAt := accessClaims(t, pw.Str("access_token"))["jti"].(string)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth2/revoke", strings.NewReader(url.Values{"token": {pw.Str("access_token")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cliID, cliSecret)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v %v", res, err)
	}
	a.want(map[string]string{"event": audit.TokenRevoked, "outcome": audit.Success, "actor": cliID, "client": cliID, "subject": alice, "jti": revokeAt})

	// A client the relying party refuses logout tokens at; then alice
	// withdraws both consents: each app is told, one takes it.
	params, verifier = webtest.CodeRequest("audit-rp-refuses", "openid")
	cb = s.Callback(t, b.SubmitConsent(b.Authorize(params), "allow"))
	s.Exchange(t, cb.Get("code"), verifier, "audit-rp-refuses", "audit-rp-refuses-secret")
	for _, id := range []string{"audit-rp", "audit-rp-refuses"} {
		page := b.Get("/account/consents")
		b.Post("/account/consents/revoke", url.Values{"client_id": {id}, "csrf_token": {page.Hidden("csrf_token")}})
		a.want(map[string]string{"event": audit.ConsentWithdrawn, "outcome": audit.Success, "actor": alice, "subject": alice, "client": id})
	}
	a.want(map[string]string{"event": audit.BackchannelLogout, "outcome": "delivered", "actor": "system", "subject": alice, "client": "audit-rp"})
	a.want(map[string]string{"event": audit.BackchannelLogout, "outcome": "rejected", "reason": "HTTP 400", "subject": alice, "client": "audit-rp-refuses"})

	// The admin API: a read, a user's tokens cut off, a client deleted
	// (its tokens cut off), each with the admin as actor.
	adminAt := adminToken(t, s)
	admin := "admin:" + s.Admin.ID
	adminDo(t, s, adminAt, http.MethodGet, "/admin/v1/users", http.StatusOK)
	a.want(map[string]string{"event": audit.AdminRead, "outcome": audit.Success, "actor": admin, "resource": "GET /admin/v1/users"})
	adminDo(t, s, adminAt, http.MethodPost, "/admin/v1/users/"+alice+"/revoke-tokens", http.StatusOK)
	a.want(map[string]string{"event": audit.AdminChange, "outcome": audit.Success, "actor": admin, "subject": alice,
		"resource": "POST /admin/v1/users/" + alice + "/revoke-tokens"})
	a.want(map[string]string{"event": audit.TokensCutOff, "actor": admin, "subject": alice, "resource": "user:" + alice})
	adminDo(t, s, adminAt, http.MethodDelete, "/admin/v1/clients/"+cliID, http.StatusNoContent)
	a.want(map[string]string{"event": audit.AdminChange, "outcome": audit.Success, "actor": admin, "resource": "DELETE /admin/v1/clients/" + cliID})
	a.want(map[string]string{"event": audit.TokensCutOff, "actor": admin, "client": cliID, "resource": "client:" + cliID})
	adminDo(t, s, adminAt, http.MethodDelete, "/admin/v1/clients/nobody", http.StatusNotFound)
	a.want(map[string]string{"event": audit.AdminChange, "outcome": audit.Failure, "reason": "HTTP 404", "resource": "DELETE /admin/v1/clients/nobody"})

	// No password anywhere: the log (audit events and every other line)
	// and the stream.
	for _, p := range []string{webtest.AlicePassword, wrongPassword, cliSecret} {
		if strings.Contains(logs.String(), p) {
			t.Errorf("the log holds %q", p)
		}
		for _, ev := range a.streamed() {
			for _, v := range ev {
				if strings.Contains(v, p) {
					t.Errorf("the stream holds %q: %v", p, ev)
				}
			}
		}
	}
}

func accessClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	var claims map[string]any
	if err := json.Unmarshal(decodeSegment(t, parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func decodeSegment(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func adminToken(t *testing.T, s *webtest.Server) string {
	t.Helper()
	m := token.NewMinter(s.Keys, s.Issuer, []string{webtest.AdminAudience(s.Issuer)}, time.Now)
	at, _, err := m.MintAccess(context.Background(), token.AccessRequest{Subject: s.Admin.ID, ClientID: webtest.FirstPartyID,
		Scope: []string{"admin"}, Roles: []string{"admin"}, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func adminDo(t *testing.T, s *webtest.Server, at, method, path string, want int) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+at)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d", method, path, res.StatusCode, want)
	}
}
