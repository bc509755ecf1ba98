package web

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// logoutFormTTL bounds how long a sign-out confirmation shown without the
// session's cookie may be answered: long enough to read the page, short
// enough that a token that leaked is soon worth nothing.
const logoutFormTTL = 10 * time.Minute

// logoutForm is the CSRF token of a sign-out confirmation shown without
// the cookie of the session it ends, sealed (secret.Box) into the form's
// csrf_token field. Such a request may come from any site (a cross-site
// <img> or form never carries the SameSite=Lax session cookie), and
// there is no session of this browser to hold a token, so the form is
// protected as the login form is (loginform.go): CSRF is the token of the
// login form cookie, which a cross-site page can neither read nor set,
// checked again on the POST (double submit). SID binds the token to the
// session the id_token_hint names, so a form shown for one session cannot
// end another. Nothing is stored (DESIGN.md §4).
type logoutForm struct {
	SID  string `json:"sid"`
	CSRF string `json:"csrf"`
}

// logoutFormToken returns the sealed token of a confirmation that ends the
// session sid, setting the login form cookie when the browser has none.
func (h *Handler) logoutFormToken(w http.ResponseWriter, r *http.Request, sid string) (string, error) {
	csrf, err := h.formCSRF(w, r, nil)
	if err != nil {
		return "", err
	}
	return h.box.Seal(secret.PurposeLogoutForm, logoutForm{SID: sid, CSRF: csrf}, h.now().Add(logoutFormTTL))
}

// validLogoutForm accepts a POST whose csrf_token is a confirmation token
// for the session sid, still valid, whose CSRF is that of the login form
// cookie the request carries (compared in constant time).
func (h *Handler) validLogoutForm(r *http.Request, sid string) bool {
	var f logoutForm
	if err := h.box.Open(secret.PurposeLogoutForm, r.PostFormValue("csrf_token"), h.now(), &f); err != nil {
		return false
	}
	want := h.loginFormToken(r)
	return sid != "" && f.SID == sid && f.CSRF != "" && want != "" &&
		subtle.ConstantTimeCompare([]byte(f.CSRF), []byte(want)) == 1
}
