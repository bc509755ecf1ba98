package web

import (
	"crypto/subtle"
	"net/http"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// Login form cookie names (see session.go for the prefix).
const (
	SecureLoginCookieName = "__Host-oauth2d_login"
	DevLoginCookieName    = "oauth2d_login"
)

// loginForm is what the login form cookie carries, sealed (secret.Box):
// the CSRF token of a visitor nobody has signed in as yet.
//
// An anonymous visitor leaves nothing in Redis (DESIGN.md §4): the login
// page's CSRF token lives in this cookie, the pending authorization request
// in the sealed ?req= handle (oauth.PendingRequests). The only Redis state
// an anonymous address can cause is the brute-force budgets of its failed
// logins, a few fixed-size keys that the per-address budget bounds and
// that expire within a minute (package ratelimit). A session is stored
// only when a user signs in.
type loginForm struct {
	CSRF string `json:"csrf"`
}

func (h *Handler) loginCookieName() string {
	if h.cookie.secure {
		return SecureLoginCookieName
	}
	return DevLoginCookieName
}

// loginFormToken reads the token of the browser's login form cookie, or ""
// when it has none that is valid.
func (h *Handler) loginFormToken(r *http.Request) string {
	c, err := r.Cookie(h.loginCookieName())
	if err != nil {
		return ""
	}
	var f loginForm
	if err := h.box.Open(secret.PurposeLoginForm, c.Value, h.now(), &f); err != nil {
		return ""
	}
	return f.CSRF
}

// formCSRF is the CSRF token for a login form: the signed-in session's, or
// that of the login form cookie, which it sets when the browser has none.
func (h *Handler) formCSRF(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	if s != nil && s.CSRFToken != "" {
		return s.CSRFToken, nil
	}
	if tok := h.loginFormToken(r); tok != "" {
		return tok, nil
	}
	tok := secret.NewToken(32)
	exp := h.now().Add(h.cfg.LoginFormTTL)
	sealed, err := h.box.Seal(secret.PurposeLoginForm, loginForm{CSRF: tok}, exp)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{
		Name: h.loginCookieName(), Value: sealed, Path: "/", Expires: exp,
		HttpOnly: true, Secure: h.cookie.secure, SameSite: http.SameSiteLaxMode,
	})
	return tok, nil
}

// validLoginCSRF accepts the form's token if it is the signed-in session's
// or the login form cookie's, compared in constant time.
func (h *Handler) validLoginCSRF(s *session, r *http.Request) bool {
	if validCSRF(s, r) {
		return true
	}
	got, want := r.PostFormValue("csrf_token"), h.loginFormToken(r)
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// clearLoginForm deletes the login form cookie once a user has signed in.
func (h *Handler) clearLoginForm(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: h.loginCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.cookie.secure, SameSite: http.SameSiteLaxMode,
	})
}
