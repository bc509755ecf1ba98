package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// loginData is the login page.
type loginData struct {
	Title, CSRF, RequestID, ClientName, Username, Error string
	// Device is set when the login is for the device page
	// (loginDeviceParam); DeviceCode is the user code to return with.
	Device     bool
	DeviceCode string
	// ClientURI is the registered home page of the client (never a URL
	// from the request), shown as a way back to it.
	ClientURI string
	// Passkey offers signing in with a passkey (passkeys.go); nil: not.
	Passkey *passkeyOffer
	// Unverified: the client registered itself, so its name is its own
	// claim (the consent page says more).
	Unverified bool
}

// LoginPage serves GET /login[?req=<pending authorization request>].
func (h *Handler) LoginPage(c *gin.Context) {
	s, err := h.load(c.Request)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return
	}
	reqID := c.Query("req")
	device := reqID == "" && c.Request.URL.Query().Has(loginDeviceParam)
	if reqID == "" && s.signedIn() {
		c.Header("Cache-Control", "no-store")
		next := AccountPath
		if device {
			next = deviceReturn(c.Query(loginDeviceParam))
		}
		c.Redirect(http.StatusFound, next)
		return
	}
	csrf, err := h.formCSRF(c.Writer, c.Request, s)
	if err != nil {
		h.serverError(c, "login form", err)
		return
	}
	data := loginData{Title: "Sign in", CSRF: csrf, Device: device, Passkey: h.loginPasskeyOffer(csrf)}
	if device {
		data.DeviceCode, _ = secret.NormalizeUserCode(c.Query(loginDeviceParam))
	}
	var target string
	if reqID != "" {
		ar, client, ok := h.pendingRequest(c, reqID)
		if !ok {
			return
		}
		data.RequestID, data.ClientName, data.Username, target = ar.ID, clientName(client), ar.LoginHint, ar.RedirectURI
		data.ClientURI, data.Unverified = client.ClientURI, client.SelfRegistered
	}
	h.render(c.Writer, http.StatusOK, "login", data, target)
}

// Login serves POST /login: fields username, password, csrf_token and
// req (DESIGN.md §6). Every failure says the same about the credentials,
// so the page cannot be used to learn which usernames exist.
func (h *Handler) Login(c *gin.Context) {
	r := c.Request
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	reqID := r.PostFormValue("req")
	device := reqID == "" && r.PostForm.Has(loginDeviceParam)
	data := loginData{Title: "Sign in", RequestID: reqID, Username: r.PostFormValue("username"), Device: device}
	if device {
		data.DeviceCode, _ = secret.NormalizeUserCode(r.PostFormValue(loginDeviceParam))
	}
	var target string
	if reqID != "" {
		ar, client, ok := h.pendingRequest(c, reqID)
		if !ok {
			return
		}
		data.ClientName, data.ClientURI, target = clientName(client), client.ClientURI, ar.RedirectURI
		data.Unverified = client.SelfRegistered
	}
	s, err := h.load(r)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return
	}
	if !h.validLoginCSRF(s, r) {
		// An expired form or a post from elsewhere: offer a fresh form and
		// do nothing else (login CSRF).
		if data.CSRF, err = h.formCSRF(c.Writer, r, s); err != nil {
			h.serverError(c, "login form", err)
			return
		}
		data.Error = "Your sign-in form expired. Please try again."
		h.render(c.Writer, http.StatusForbidden, "login", data, target)
		return
	}
	data.CSRF = r.PostFormValue("csrf_token")
	data.Passkey = h.loginPasskeyOffer(data.CSRF)
	user, ok := h.checkCredentials(c, &data, target)
	if !ok {
		return
	}
	next := h.loginNext(&data)
	required, err := h.secondFactorRequired(r.Context(), user)
	if err != nil {
		h.serverError(c, "second factor policy", err)
		return
	}
	if required {
		h.beginSecondFactor(c, s, user, reqID, next)
		return
	}
	h.completeSignIn(c, s, user.ID, []string{account.AMRPassword}, next)
}

// loginNext is where the login form was for (data): the pending
// authorization request, the device to connect, or else the account page.
func (h *Handler) loginNext(data *loginData) string {
	if data.Device && data.RequestID == "" {
		return deviceReturn(data.DeviceCode)
	}
	return h.nextAfterSignIn(data.RequestID)
}

// completeSignIn signs userID in, having proved amr (RFC 8176), in place
// of the browser's session s, and goes on to next (loginNext). It is what
// every way of signing in in one step does once the user is known; a
// second factor finishes through CompleteSecondFactor.
func (h *Handler) completeSignIn(c *gin.Context, s *session, userID string, amr []string, next string) {
	r := c.Request
	if _, err := h.signIn(c.Writer, r, s, userID, c.ClientIP(), amr); err != nil {
		h.serverError(c, "sign in", err)
		return
	}
	h.clearLoginForm(c.Writer)
	h.log.InfoContext(r.Context(), "web: user signed in", "user_id", userID, "amr", amr)
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, next)
}

// nextAfterSignIn is where a finished sign-in goes: back to the
// authorization request, or to the account page.
func (h *Handler) nextAfterSignIn(reqID string) string {
	if reqID != "" {
		return h.cfg.ResumePath + "?req=" + url.QueryEscape(reqID)
	}
	return AccountPath
}

// checkCredentials checks the password through account.Login (the
// brute-force budgets included), or renders the login page again with the
// reason and reports false.
func (h *Handler) checkCredentials(c *gin.Context, data *loginData, target string) (*storage.User, bool) {
	r := c.Request
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	if username == "" || password == "" {
		data.Error = "Enter your username and password."
		h.render(c.Writer, http.StatusBadRequest, "login", data, target)
		return nil, false
	}
	if len(username) > account.MaxUsernameLen {
		data.Username = "" // not worth showing back
	}
	user, err := account.Login(r.Context(), h.limiter, h.store, h.checker, username, password, c.ClientIP())
	var throttled *ratelimit.Throttled
	switch {
	case err == nil:
		return user, true
	case errors.Is(err, account.ErrBadCredentials), errors.Is(err, account.ErrCredentialsTooLong):
		data.Error = "Incorrect username or password."
		h.render(c.Writer, http.StatusBadRequest, "login", data, target)
	case errors.As(err, &throttled):
		c.Header("Retry-After", throttled.RetryAfterSeconds())
		data.Error = "Too many failed sign-in attempts. Please wait a minute and try again."
		h.render(c.Writer, http.StatusTooManyRequests, "login", data, target)
	default:
		h.serverError(c, "check password", err)
	}
	return nil, false
}

// pendingRequest loads the authorization request a page works on and its
// client, or shows the error page and reports false.
func (h *Handler) pendingRequest(c *gin.Context, id string) (*storage.AuthRequest, *storage.Client, bool) {
	ctx := c.Request.Context()
	ar, err := h.pending.GetAuthRequest(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		h.errorPage(c, http.StatusBadRequest, "This sign-in request has expired or was already answered. Go back to the application and start again.")
		return nil, nil, false
	}
	if err != nil {
		h.serverError(c, "load authorization request", err)
		return nil, nil, false
	}
	client, err := h.clients.GetClient(ctx, ar.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		h.errorPage(c, http.StatusBadRequest, "The application that sent you here is not registered.")
		return nil, nil, false
	}
	if err != nil {
		h.serverError(c, "load client", err)
		return nil, nil, false
	}
	return ar, client, true
}

func clientName(c *storage.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}
