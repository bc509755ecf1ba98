package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

// Bounds on what a logout request may send, checked before any lookup.
const (
	maxLogoutStateLen    = 1024
	maxLogoutRedirectLen = 2048
)

// logoutData is the sign-out confirmation page.
type logoutData struct {
	Title, CSRF, Action, Username                                   string
	ClientID, ClientName, IDTokenHint, PostLogoutRedirectURI, State string
	// ClientURI is the client's registered home page (never a URL from
	// the request): the way back for a person who did not mean to sign out.
	ClientURI string
	// WithoutSession: the browser did not send the cookie of the session
	// that ends, so the page says what ends and that nothing does unless
	// the person confirms.
	WithoutSession bool
	// Error says why the previous answer to the page was refused.
	Error string
}

// logoutRequest is a validated RP-initiated logout request (OIDC
// RP-Initiated Logout 1.0 §2).
type logoutRequest struct {
	client                          *storage.Client
	clientID, idTokenHint, redirect string
	state                           string
	// hintSID and hintSub are the sid and sub of a valid id_token_hint,
	// if it has them.
	hintSID, hintSub string
}

// EndSession serves GET and POST on /logout and /oauth2/logout (the
// end_session_endpoint). Only a POST carrying the session's CSRF token
// signs the browser's session out; anything else, an RP's GET or
// auto-submitted form included, gets a confirmation page first, so no other
// site can sign the user out (logout CSRF, RP-Initiated Logout §2).
// post_logout_redirect_uri must exactly match one the client registered,
// and the client must be named by client_id or by an id_token_hint we
// signed. A request without the session cookie is endWithoutCookie's.
// Every ended session's relying parties are told over the back channel.
func (h *Handler) EndSession(c *gin.Context) {
	r := c.Request
	v := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			h.errorPage(c, http.StatusBadRequest, "The form could not be read.")
			return
		}
		v = r.PostForm
	}
	lr, status, msg := h.parseLogout(c, v)
	if msg != "" {
		h.errorPage(c, status, msg)
		return
	}
	s, err := h.load(r)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return
	}
	if !s.signedIn() {
		h.endWithoutCookie(c, lr)
		return
	}
	if r.Method == http.MethodPost && validCSRF(s, r) {
		// A hint of another session of the same person (one this browser
		// had before, or another browser's) names the session the relying
		// party signed in through: it ends too. The person confirmed on a
		// form that no other site can submit, which is what
		// endWithoutCookie asks for before it ends a hinted session. A
		// hint of someone else's session is not theirs to end from a page
		// that names only their own sign-out.
		if lr.hintSID != "" && lr.hintSID != s.SID && lr.hintSub == s.UserID {
			if _, err := h.logouts.EndSession(r.Context(), lr.hintSID); err != nil {
				h.serverError(c, "end hinted session", err)
				return
			}
		}
		ended, err := h.logouts.EndSession(r.Context(), s.SID)
		if err != nil {
			h.serverError(c, "end session", err)
			return
		}
		if ended {
			// EndSession already deleted the stored session.
			h.clearSessionCookie(c.Writer)
		} else if err := h.signOut(c.Writer, r, s); err != nil {
			h.serverError(c, "sign out", err)
			return
		}
		h.log.InfoContext(r.Context(), "web: user signed out", "user_id", s.UserID)
		h.afterLogout(c, lr, true)
		return
	}
	data := h.logoutPage(r, lr)
	data.CSRF = s.CSRFToken
	if user, err := h.users.GetUser(r.Context(), s.UserID); err == nil {
		data.Username = user.Username
	}
	h.render(c.Writer, http.StatusOK, "logout", data, lr.redirect)
}

// logoutPage is the confirmation page of lr, without its CSRF token.
func (h *Handler) logoutPage(r *http.Request, lr *logoutRequest) logoutData {
	data := logoutData{Title: "Sign out", Action: r.URL.Path, ClientID: lr.clientID,
		IDTokenHint: lr.idTokenHint, PostLogoutRedirectURI: lr.redirect, State: lr.state}
	if lr.client != nil {
		data.ClientName, data.ClientURI = clientName(lr.client), lr.client.ClientURI
	}
	return data
}

// endWithoutCookie answers a logout request that does not carry a
// signed-in session cookie: a browser whose cookie is gone or was not
// sent, or a relying party's server calling the end_session_endpoint
// itself. A valid id_token_hint names the session its ID token was issued
// in (sid), but without that session's cookie the request may come from
// any site: a cross-site <img> or auto-submitted form never carries the
// SameSite=Lax cookie, and any relying party's ID token for the user,
// however old, would do. So the person is asked first (RP-Initiated
// Logout §2 and §6: the OP must ask when the hint does not belong to the
// browser's current session, and here there is none), and the session
// ends, wherever its cookie is, and its relying parties are told, only on
// the POST of that page with its token (logoutform.go). A POST without a
// csrf_token is an RP's logout request and is asked too; one with a token
// that does not hold is refused with a fresh page. Without a hint that
// names a session, nothing ends and the page says so.
func (h *Handler) endWithoutCookie(c *gin.Context, lr *logoutRequest) {
	r := c.Request
	if lr.hintSID == "" {
		h.afterLogout(c, lr, false)
		return
	}
	if r.Method != http.MethodPost || !r.PostForm.Has("csrf_token") {
		h.askWithoutCookie(c, lr, http.StatusOK, "")
		return
	}
	if !h.validLogoutForm(r, lr.hintSID) {
		h.askWithoutCookie(c, lr, http.StatusForbidden,
			"This sign-out form has expired or did not come from this page, so nothing was signed out.")
		return
	}
	ended, err := h.logouts.EndSession(r.Context(), lr.hintSID)
	if err != nil {
		h.serverError(c, "end session", err)
		return
	}
	if ended {
		h.log.InfoContext(r.Context(), "web: session ended by confirmed id_token_hint", "client_id", lr.clientID)
	}
	h.afterLogout(c, lr, ended)
}

// askWithoutCookie shows the confirmation that ends the hinted session,
// with a fresh token for it.
func (h *Handler) askWithoutCookie(c *gin.Context, lr *logoutRequest, status int, refusal string) {
	data := h.logoutPage(c.Request, lr)
	data.WithoutSession, data.Error = true, refusal
	var err error
	if data.CSRF, err = h.logoutFormToken(c.Writer, c.Request, lr.hintSID); err != nil {
		h.serverError(c, "logout form", err)
		return
	}
	h.render(c.Writer, status, "logout", data, lr.redirect)
}

// signedOutData is the page after a logout request.
type signedOutData struct {
	Title string
	// NothingEnded: no session was signed in, so none was signed out.
	NothingEnded bool
}

// afterLogout sends the browser to the client's registered
// post_logout_redirect_uri with its state, or shows whether a session was
// ended.
func (h *Handler) afterLogout(c *gin.Context, lr *logoutRequest, ended bool) {
	if lr.redirect == "" {
		title := "Signed out"
		if !ended {
			title = "Not signed in"
		}
		h.render(c.Writer, http.StatusOK, "signedout", signedOutData{Title: title, NothingEnded: !ended})
		return
	}
	target := lr.redirect
	if lr.state != "" {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + url.Values{"state": {lr.state}}.Encode()
	}
	status := http.StatusFound
	if c.Request.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(status, target)
}

func (h *Handler) parseLogout(c *gin.Context, v url.Values) (*logoutRequest, int, string) {
	const bad = http.StatusBadRequest
	lr := &logoutRequest{clientID: v.Get("client_id"), idTokenHint: v.Get("id_token_hint"),
		redirect: v.Get("post_logout_redirect_uri"), state: v.Get("state")}
	if len(lr.state) > maxLogoutStateLen || strings.ContainsFunc(lr.state, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return nil, bad, "The sign-out request is not valid (state)."
	}
	if lr.idTokenHint != "" {
		hint, err := token.VerifyIDTokenHint(h.keys, h.cfg.Issuer, lr.idTokenHint)
		if err != nil {
			h.log.DebugContext(c.Request.Context(), "web: id_token_hint refused", "err", err)
			return nil, bad, "The sign-out request is not valid (id_token_hint)."
		}
		aud := hint.Audience
		switch {
		case lr.clientID != "" && !slices.Contains(aud, lr.clientID):
			return nil, bad, "The sign-out request is not valid (client_id does not match id_token_hint)."
		case lr.clientID == "" && len(aud) == 1:
			lr.clientID = aud[0]
		case lr.clientID == "":
			return nil, bad, "The sign-out request does not say which application sent it."
		}
		lr.hintSID, lr.hintSub = hint.SessionID, hint.Subject
	}
	if len(lr.clientID) > account.MaxClientIDLen || len(lr.redirect) > maxLogoutRedirectLen {
		return nil, bad, "The sign-out request is not valid."
	}
	if lr.clientID != "" {
		client, err := h.clients.GetClient(c.Request.Context(), lr.clientID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, bad, "The application that sent you here is not registered."
		}
		if err != nil {
			h.log.ErrorContext(c.Request.Context(), "web: load client", "err", err)
			if problem.Unavailable(err) { // RenderError adds Retry-After
				return nil, http.StatusServiceUnavailable, unavailableMessage
			}
			return nil, http.StatusInternalServerError, "Something went wrong on our side. Please try again later."
		}
		lr.client = client
	}
	if lr.redirect != "" {
		if lr.client == nil {
			return nil, bad, "The sign-out request does not say which application sent it (client_id or id_token_hint)."
		}
		if !slices.Contains(lr.client.PostLogoutRedirectURIs, lr.redirect) {
			return nil, bad, "The application asked to send you to an address it has not registered. For your safety you were not sent there."
		}
	}
	return lr, 0, ""
}
