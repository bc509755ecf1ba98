package web_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// The consent page's "remember this decision" box: ticked (or a form
// without the field at all) stores the consent, so the next request skips
// the page; unticked, the code is issued but nothing is stored, and the
// next request asks again.
func TestConsentRememberDecision(t *testing.T) {
	tests := []struct {
		name         string
		unticked     bool     // consent.remember_by_default false
		remember     []string // the form's remember values; nil: field left out
		wantChecked  bool
		wantRemember bool
	}{
		{"ticked by default, sent ticked", false, []string{"no", "yes"}, true, true},
		{"ticked by default, unticked by the user", false, []string{"no"}, true, false},
		{"unticked by default, left unticked", true, []string{"no"}, false, false},
		{"unticked by default, ticked by the user", true, []string{"no", "yes"}, false, true},
		{"a form without the field", false, nil, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := webtest.New(t, webtest.Options{ConsentRememberUnticked: tc.unticked})
			b := s.NewBrowser(t)
			params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
			consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
			box := `<input type="checkbox" name="remember" value="yes" id="remember">`
			if tc.wantChecked {
				box = `<input type="checkbox" name="remember" value="yes" id="remember" checked>`
			}
			if !strings.Contains(consent.Body, box) || !strings.Contains(consent.Body, `<input type="hidden" name="remember" value="no">`) {
				t.Fatalf("consent page lacks %s and the hidden remember=no:\n%s", box, consent.Body)
			}
			form := url.Values{"decision": {"allow"}, "csrf_token": {consent.Hidden("csrf_token")}, "req": {consent.Hidden("req")}}
			if tc.remember != nil {
				form["remember"] = tc.remember
			}
			if cb := s.Callback(t, b.Follow(b.Post("/consent", form))); cb.Get("code") == "" {
				t.Fatalf("callback = %v, want a code", cb)
			}
			_, err := s.Store.GetConsent(t.Context(), s.Alice.ID, webtest.ThirdPartyID)
			if stored := err == nil; stored != tc.wantRemember || (err != nil && !errors.Is(err, storage.ErrNotFound)) {
				t.Fatalf("consent stored: %v (%v), want %v", stored, err, tc.wantRemember)
			}
			params, _ = webtest.CodeRequest(webtest.ThirdPartyID, "openid profile")
			again := b.Authorize(params)
			asked := again.Status == http.StatusOK && strings.Contains(again.Body, `name="decision"`)
			if asked == tc.wantRemember {
				t.Fatalf("second request: asked again = %v, want %v (%d %s)", asked, !tc.wantRemember, again.Status, again.Header.Get("Location"))
			}
		})
	}
}
