package web_test

import (
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The account page's changes are audited, in the log and the stream, and
// no password appears in either.
func TestAccountAuditEvents(t *testing.T) {
	logs := &logBuffer{}
	s := webtest.New(t, webtest.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	a := &auditTrail{t: t, s: s, logs: logs}
	alice := s.Alice.ID
	signedInAs(t, s, "alice", webtest.AlicePassword, iphoneUA)
	me := signedInAs(t, s, "alice", webtest.AlicePassword, firefoxUA)
	_, csrf := listSessions(t, me)

	change := func(current string) {
		me.Post("/account/password", url.Values{"current_password": {current}, "new_password": {newAlicePassword},
			"new_password_again": {newAlicePassword}, "csrf_token": {csrf}})
	}
	change("not-alices-password-9c2e")
	a.want(map[string]string{"event": audit.PasswordChanged, "outcome": audit.Failure, "actor": alice, "subject": alice, "reason": "bad_credentials"})
	me.Post("/account/sessions/end-others", url.Values{"csrf_token": {csrf}})
	a.want(map[string]string{"event": audit.SessionEnded, "outcome": audit.Success, "actor": alice, "reason": "other_sessions"})
	change(webtest.AlicePassword)
	a.want(map[string]string{"event": audit.PasswordChanged, "outcome": audit.Success, "actor": alice, "subject": alice})
	for _, secret := range []string{webtest.AlicePassword, newAlicePassword, "not-alices-password-9c2e"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a password is in the log")
		}
	}
}
