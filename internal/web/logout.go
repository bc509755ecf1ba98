package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/oauth2d/oauth2d/internal/problem"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/token"
)

const maxLogoutStateLen = 1024

// logoutData is the sign-out confirmation page.
type logoutData struct {
	Title, CSRF, Action, Username                                   string
	ClientID, ClientName, IDTokenHint, PostLogoutRedirectURI, State string
}

// logoutRequest is a validated RP-initiated logout request (OIDC
// RP-Initiated Logout 1.0 §2).
type logoutRequest struct {
	client                          *storage.Client
	clientID, idTokenHint, redirect string
	state                           string
}

// EndSession serves GET and POST on /logout and /oauth2/logout (the
// end_session_endpoint). Only a POST carrying the session's CSRF token
// signs out; anything else, an RP's GET or auto-submitted form included,
// gets a confirmation page first, so no other site can sign the user out
// (logout CSRF, RP-Initiated Logout §2). post_logout_redirect_uri must
// exactly match one the client registered, and the client must be named
// by client_id or by an id_token_hint we signed.
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
		h.afterLogout(c, lr) // nothing to end
		return
	}
	if r.Method == http.MethodPost && validCSRF(s, r) {
		if err := h.signOut(c.Writer, r, s); err != nil {
			h.serverError(c, "sign out", err)
			return
		}
		h.log.InfoContext(r.Context(), "web: user signed out", "user_id", s.UserID)
		h.afterLogout(c, lr)
		return
	}
	data := logoutData{Title: "Sign out", CSRF: s.CSRFToken, Action: r.URL.Path, ClientID: lr.clientID,
		IDTokenHint: lr.idTokenHint, PostLogoutRedirectURI: lr.redirect, State: lr.state}
	if lr.client != nil {
		data.ClientName = clientName(lr.client)
	}
	if user, err := h.store.GetUser(r.Context(), s.UserID); err == nil {
		data.Username = user.Username
	}
	h.render(c.Writer, http.StatusOK, "logout", data, lr.redirect)
}

// afterLogout sends the browser to the client's registered
// post_logout_redirect_uri with its state, or shows the signed-out page.
func (h *Handler) afterLogout(c *gin.Context, lr *logoutRequest) {
	if lr.redirect == "" {
		h.render(c.Writer, http.StatusOK, "signedout", struct{ Title string }{"Signed out"})
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
		aud, err := h.idTokenAudience(lr.idTokenHint)
		if err != nil {
			h.log.DebugContext(c.Request.Context(), "web: id_token_hint refused", "err", err)
			return nil, bad, "The sign-out request is not valid (id_token_hint)."
		}
		switch {
		case lr.clientID != "" && !slices.Contains(aud, lr.clientID):
			return nil, bad, "The sign-out request is not valid (client_id does not match id_token_hint)."
		case lr.clientID == "" && len(aud) == 1:
			lr.clientID = aud[0]
		case lr.clientID == "":
			return nil, bad, "The sign-out request does not say which application sent it."
		}
	}
	if lr.clientID != "" {
		client, err := h.store.GetClient(c.Request.Context(), lr.clientID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, bad, "The application that sent you here is not registered."
		}
		if err != nil {
			h.log.ErrorContext(c.Request.Context(), "web: load client", "err", err)
			if problem.Unavailable(err) {
				problem.SetRetryAfter(c.Writer.Header())
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

// idTokenAudience checks that raw is an ID token we signed for our issuer
// and returns its audience. An expired hint is accepted, as RP-Initiated
// Logout §2 asks: logging out is exactly when old tokens turn up. A hint
// signed with a key since removed from the key set is refused.
func (h *Handler) idTokenAudience(raw string) ([]string, error) {
	claims := jwt.MapClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods(token.Algorithms()), jwt.WithoutClaimsValidation())
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); strings.Contains(strings.ToLower(typ), "at+jwt") {
			return nil, errors.New("web: an access token is not an id_token_hint")
		}
		kid, _ := t.Header["kid"].(string)
		key, ok := h.keys.Lookup(kid)
		if !ok {
			return nil, fmt.Errorf("web: unknown kid %q", kid)
		}
		if t.Method.Alg() != key.Algorithm() {
			return nil, fmt.Errorf("web: alg %q does not match key %s", t.Method.Alg(), kid)
		}
		return key.Public(), nil
	})
	if err != nil {
		return nil, err
	}
	if iss, _ := claims.GetIssuer(); iss != h.cfg.Issuer {
		return nil, fmt.Errorf("web: id_token_hint issuer %q", iss)
	}
	aud, err := claims.GetAudience()
	if err != nil || len(aud) == 0 {
		return nil, errors.New("web: id_token_hint without audience")
	}
	return aud, nil
}
