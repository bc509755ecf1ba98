package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/web"
	"github.com/oauth2d/oauth2d/templates"
)

// failingIndex cannot remember sessions by sid.
type failingIndex struct{}

func (failingIndex) SessionStarted(context.Context, string, string, string, time.Time) error {
	return errors.New("index unavailable")
}
func (failingIndex) EndSession(context.Context, string) (bool, error) { return false, nil }
func (failingIndex) GrantEnded(context.Context, string, string) error { return nil }

// A sign-in whose session cannot be indexed by sid must not leave the
// browser signed in: a session the index does not know survives an
// administrator's sign-out and a logout by id_token_hint.
func TestSignInNotIndexedLeavesNoSession(t *testing.T) {
	h, store := newHandlerWith(t, "http://localhost:8080", templates.FS, failingIndex{})
	if err := store.CreateUser(context.Background(), &storage.User{ID: "u-idx", Username: "idx", PasswordHash: cheapHash(t, "pw-of-idx")}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, web.LoginPath, nil))
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no CSRF token on the login page: %.300q", rec.Body.String())
	}
	form := url.Values{"csrf_token": {m[1]}, "username": {"idx"}, "password": {"pw-of-idx"}}
	req := httptest.NewRequest(http.MethodPost, web.LoginPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code < 500 {
		t.Fatalf("sign-in answered %d although the session could not be indexed", rec.Code)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name != web.DevCookieName || c.Value == "" {
			continue
		}
		t.Errorf("a session cookie was set: %q", c.Value)
		req := httptest.NewRequest(http.MethodGet, web.AccountConsentPath, nil)
		req.AddCookie(c)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			t.Error("and it is signed in")
		}
	}
}
