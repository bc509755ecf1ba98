package web_test

import (
	"net/http"
	"testing"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// When Redis does not answer the reads of the person's sessions, the
// sessions page and "sign out all others" are the 503 page with
// Retry-After, not a 500; nothing is half done that a retry cannot finish.
func TestSessionsPageWhenRedisStalls(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	signedInAs(t, s, "alice", webtest.AlicePassword, iphoneUA)
	me := signedInAs(t, s, "alice", webtest.AlicePassword, firefoxUA)
	_, csrf := listSessions(t, me)
	for _, prefix := range []string{"session:", "login:"} { // hooks add up: the sessions first
		t.Run(prefix, func(t *testing.T) {
			s.Store.Redis().AddHook(stallFamilies{prefix: s.Store.Prefix() + prefix})
			p := me.Get("/account/sessions")
			if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
				t.Fatalf("got %d Retry-After=%q, want 503 with Retry-After", p.Status, p.Header.Get("Retry-After"))
			}
		})
	}
	if p := me.Post("/account/sessions/end-others", map[string][]string{"csrf_token": {csrf}}); p.Status != http.StatusServiceUnavailable {
		t.Fatalf("end others while stalled: %d", p.Status)
	}
}
