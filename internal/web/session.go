package web

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Cookie names. The __Host- prefix makes the browser insist on Secure,
// Path=/ and no Domain, so no sibling host can plant or overwrite it; it
// needs https, so plain-http development uses the bare name.
const (
	SecureCookieName = "__Host-oauth2d_session"
	DevCookieName    = "oauth2d_session"
)

// touchEvery limits how often a session's idle timer is pushed back, so
// that not every page view writes to Redis.
const touchEvery = time.Minute

type cookieSpec struct {
	name   string
	secure bool
}

func newCookieSpec(secure bool) cookieSpec {
	if secure {
		return cookieSpec{name: SecureCookieName, secure: true}
	}
	return cookieSpec{name: DevCookieName}
}

// session is a loaded browser session and its cookie value.
type session struct {
	id string
	*storage.BrowserSession
}

func (s *session) signedIn() bool { return s != nil && s.UserID != "" }

// load returns the browser's session, or storage.ErrNotFound when it has
// none that is still valid (idle or absolute lifetime passed).
func (h *Handler) load(r *http.Request) (*session, error) {
	c, err := r.Cookie(h.cookie.name)
	if err != nil || c.Value == "" {
		return nil, storage.ErrNotFound
	}
	hash := secret.SHA256(c.Value)
	bs, err := h.store.GetSession(r.Context(), hash)
	if err != nil {
		return nil, err
	}
	now := h.now()
	if now.Sub(bs.LastSeen) > h.idleTTL(bs) || !now.Before(bs.ExpiresAt) {
		_ = h.store.DeleteSession(r.Context(), hash)
		return nil, storage.ErrNotFound
	}
	if now.Sub(bs.LastSeen) > touchEvery {
		bs.LastSeen = now
		if err := h.store.SaveSession(r.Context(), hash, bs, h.idleTTL(bs)); err != nil {
			return nil, err
		}
	}
	return &session{id: c.Value, BrowserSession: bs}, nil
}

func (h *Handler) idleTTL(bs *storage.BrowserSession) time.Duration {
	if bs.UserID == "" {
		return h.cfg.LoginFormTTL
	}
	return h.cfg.SessionIdleTTL
}

// signIn replaces whatever session the browser had with a new one for
// user: a new cookie value and a new CSRF token, so that a session id an
// attacker planted before the login is worth nothing after it (session
// fixation, RFC 9700 §4.7 / OWASP), and a new sid.
//
// ip is the client's address (gin's ClientIP, which knows the trusted
// proxies): the account page shows it with the browser's description.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, old *session, userID, ip string) (*session, error) {
	if err := h.endReplaced(r, old); err != nil {
		return nil, err
	}
	now := h.now()
	id := secret.NewToken(32)
	bs := &storage.BrowserSession{UserID: userID, AuthTime: now, CreatedAt: now, LastSeen: now,
		ExpiresAt: now.Add(h.cfg.SessionAbsoluteTTL), SID: secret.NewToken(16),
		Device: describeDevice(r.UserAgent()), IP: clientAddress(ip)}
	// Remembered by sid, so that a logout without this cookie (an RP's
	// id_token_hint, an admin) can end it and tell its relying parties;
	// remembered before the session exists, so that no signed-in session
	// escapes them. An entry whose session was never stored ends nothing.
	if err := h.logouts.SessionStarted(r.Context(), bs.SID, userID, secret.SHA256(id), bs.ExpiresAt); err != nil {
		return nil, err
	}
	return h.start(w, r, id, bs)
}

// endReplaced ends the session a new sign-in replaces, the way signing
// out does: its sid is never seen again, so the relying parties that
// signed in under it are told now (back-channel logout) or never, whether
// the same person signs in again or another one. It runs before the new
// session exists: if it fails, the sign-in fails and the browser keeps the
// old cookie, so the next attempt ends the old session instead of
// forgetting it beside a new one.
func (h *Handler) endReplaced(r *http.Request, old *session) error {
	if old == nil {
		return nil
	}
	if old.signedIn() && old.SID != "" {
		ended, err := h.logouts.EndSession(r.Context(), old.SID)
		if err != nil {
			return err
		}
		if ended {
			return nil // EndSession deleted the stored session too
		}
	}
	return h.store.DeleteSession(r.Context(), secret.SHA256(old.id))
}

// start stores bs under id and sets the cookie.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, id string, bs *storage.BrowserSession) (*session, error) {
	bs.CSRFToken = secret.NewToken(32)
	if err := h.store.SaveSession(r.Context(), secret.SHA256(id), bs, h.idleTTL(bs)); err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{
		Name: h.cookie.name, Value: id, Path: "/", Expires: bs.ExpiresAt,
		HttpOnly: true, Secure: h.cookie.secure, SameSite: http.SameSiteLaxMode,
	})
	return &session{id: id, BrowserSession: bs}, nil
}

// signOut deletes the session and the cookie.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, s *session) error {
	h.clearSessionCookie(w)
	return h.store.DeleteSession(r.Context(), secret.SHA256(s.id))
}

// clearSessionCookie deletes the session cookie from the browser.
func (h *Handler) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: h.cookie.name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.cookie.secure, SameSite: http.SameSiteLaxMode,
	})
}

// validCSRF compares the form's token with the session's in constant
// time (RFC 9700 §4.7; OWASP synchronizer token pattern).
func validCSRF(s *session, r *http.Request) bool {
	got := r.PostFormValue("csrf_token")
	return s != nil && got != "" && s.CSRFToken != "" &&
		subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRFToken)) == 1
}

// SignedIn returns the browser's session if a user is signed in, else
// storage.ErrNotFound. It implements oauth.BrowserSessions.
func (h *Handler) SignedIn(r *http.Request) (*storage.BrowserSession, error) {
	s, err := h.load(r)
	if err != nil {
		return nil, err
	}
	if !s.signedIn() {
		return nil, storage.ErrNotFound
	}
	return s.BrowserSession, nil
}
