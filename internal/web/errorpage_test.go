package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// An error page shows the X-Request-Id of its response, so that a user can
// quote it and the operator find the request in the logs; a sane id a
// proxy sent is kept, and whatever is shown is the header's value.
func TestErrorPageShowsRequestID(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	tests := []struct {
		name       string
		req        func(t *testing.T) *http.Request
		wantStatus int
		wantID     string // "" = a generated one
	}{
		{"consent form without CSRF token", func(t *testing.T) *http.Request {
			r, err := http.NewRequest(http.MethodPost, s.URL+"/consent", strings.NewReader(url.Values{"decision": {"allow"}}.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusForbidden, ""},
		{"authorization request of an unknown client", func(t *testing.T) *http.Request {
			r, err := http.NewRequest(http.MethodGet, s.URL+"/oauth2/authorize?response_type=code&client_id=nobody", nil)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}, http.StatusBadRequest, ""},
		{"with a proxy's request id", func(t *testing.T) *http.Request {
			r, err := http.NewRequest(http.MethodGet, s.URL+"/oauth2/authorize?response_type=code&client_id=nobody", nil)
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("X-Request-Id", "proxy-req-0123456789")
			return r
		}, http.StatusBadRequest, "proxy-req-0123456789"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := s.NewBrowser(t).Do(tc.req(t))
			id := p.Header.Get("X-Request-Id")
			if p.Status != tc.wantStatus || id == "" {
				t.Fatalf("got %d, X-Request-Id %q; want %d and an id", p.Status, id, tc.wantStatus)
			}
			if tc.wantID != "" && id != tc.wantID {
				t.Errorf("X-Request-Id = %q, want the proxy's %q", id, tc.wantID)
			}
			if want := `<code id="request-id">` + id + `</code>`; !strings.Contains(p.Body, want) {
				t.Fatalf("error page lacks %s:\n%s", want, p.Body)
			}
		})
	}
}
