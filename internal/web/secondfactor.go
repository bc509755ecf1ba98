package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// secondFactorTTL bounds a sign-in between its password and its second
// factor: the pending session ends then, and the password is asked again.
const secondFactorTTL = 5 * time.Minute

// mfaAMR is what a session records once a TOTP or recovery code was
// proved after the password (account.AMRPassword etc.; see account/acr.go
// for why a recovery code is "otp" too).
var mfaAMR = []string{account.AMRPassword, account.AMROTP, account.AMRMFA}

// secondFactorData is the second-factor page: a code form per factor the
// user has, or, for a user who must enrol, the enrolment.
type secondFactorData struct {
	Title, CSRF, RequestID, ClientName, Error string
	HasTOTP                                   bool
	RecoveryLeft                              int
	// Passkeys offers the passkey option (SecondFactorPasskeyPath): shown
	// only to a user who has one, with the ceremony Passkey.
	Passkeys  bool
	Passkey   *passkeyOffer
	Enrolment *enrolmentView
}

// enrolmentView is a TOTP enrolment as a page shows it.
type enrolmentView struct {
	ID, Secret string
	QR         template.HTML
}

// secondFactorRequired reports whether a password alone does not sign
// user in.
func (h *Handler) secondFactorRequired(ctx context.Context, user *storage.User) (bool, error) {
	if h.mfa == nil {
		return false, nil
	}
	return h.mfa.Required(ctx, user)
}

// beginSecondFactor follows a right password of a user who needs a
// second factor: the browser gets a new session that is not signed in,
// only says whose second factor it waits for, and ends in
// secondFactorTTL. The session it had is ended as a sign-in would.
//
// next is where the sign-in goes once the factor is proved (the
// authorization request, the device page, the account page): computed
// here by the server, kept in the pending session, never read from a form.
func (h *Handler) beginSecondFactor(c *gin.Context, old *session, user *storage.User, reqID, next string) {
	r := c.Request
	if err := h.endReplaced(r, old); err != nil {
		h.serverError(c, "end the replaced session", err)
		return
	}
	now := h.now()
	bs := &storage.BrowserSession{Pending: &storage.PendingSignIn{UserID: user.ID, Next: next}, CreatedAt: now, LastSeen: now,
		ExpiresAt: now.Add(secondFactorTTL)}
	if _, err := h.start(c.Writer, r, secret.NewToken(32), bs); err != nil {
		h.serverError(c, "start the second-factor step", err)
		return
	}
	h.clearLoginForm(c.Writer)
	page := SecondFactorPath
	if reqID != "" {
		page += "?req=" + url.QueryEscape(reqID)
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, page)
}

// secondFactorUser is whom the second-factor page works for: the user of
// a pending sign-in, or the signed-in user (step-up). Without either the
// browser is sent to the login page and nil returned.
func (h *Handler) secondFactorUser(c *gin.Context, reqID string) (*session, *storage.User) {
	if h.factors == nil {
		h.errorPage(c, http.StatusNotFound, "There is no such page.")
		return nil, nil
	}
	s, err := h.load(c.Request)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return nil, nil
	}
	uid := ""
	switch {
	case s.signedIn():
		uid = s.UserID
	case s != nil && s.Pending != nil:
		uid = s.Pending.UserID
	}
	if uid != "" {
		user, err := h.users.GetUser(c.Request.Context(), uid)
		if err == nil {
			return s, user
		}
		if !errors.Is(err, storage.ErrNotFound) {
			h.serverError(c, "load user", err)
			return nil, nil
		}
	}
	if c.Request.Method == http.MethodPost {
		h.errorPage(c, http.StatusForbidden, "Your sign-in expired. Please sign in again.")
		return nil, nil
	}
	next := LoginPath
	if reqID != "" {
		next += "?req=" + url.QueryEscape(reqID)
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, next)
	return nil, nil
}

// SecondFactorPage serves GET /login/second-factor[?req=]: the code
// forms for the factors the user has, or the enrolment for a user who
// must have one and has none.
func (h *Handler) SecondFactorPage(c *gin.Context) {
	reqID := c.Query("req")
	s, user := h.secondFactorUser(c, reqID)
	if user == nil {
		return
	}
	data := secondFactorData{Title: "Second factor", CSRF: s.CSRFToken}
	h.renderSecondFactor(c, http.StatusOK, reqID, user, &data)
}

// renderSecondFactor fills in the factors and the request and renders
// the page.
func (h *Handler) renderSecondFactor(c *gin.Context, status int, reqID string, user *storage.User, data *secondFactorData) {
	ctx := c.Request.Context()
	var target string
	if reqID != "" {
		ar, client, ok := h.pendingRequest(c, reqID)
		if !ok {
			return
		}
		data.RequestID, data.ClientName, target = reqID, clientName(client), ar.RedirectURI
	}
	st, err := h.factors.Status(ctx, user.ID)
	if err != nil {
		h.serverError(c, "load second factors", err)
		return
	}
	if data.Passkeys, err = h.factors.HasPasskeys(ctx, user.ID); err != nil {
		h.serverError(c, "load passkeys", err)
		return
	}
	if !h.secondFactorPasskeyOffer(c, user.ID, data) {
		return
	}
	data.HasTOTP, data.RecoveryLeft = st.TOTP != nil, st.RecoveryLeft
	if !data.HasTOTP && !data.Passkeys {
		if data.Enrolment, err = h.enrolment(ctx, user); err != nil {
			h.serverError(c, "begin enrolment", err)
			return
		}
		data.RecoveryLeft = 0
	}
	h.render(c.Writer, status, "secondfactor", data, target)
}

// enrolment begins (or shows again) a TOTP enrolment of user.
func (h *Handler) enrolment(ctx context.Context, user *storage.User) (*enrolmentView, error) {
	e, err := h.factors.BeginTOTP(ctx, user)
	if err != nil {
		return nil, err
	}
	qr, err := qrSVG(e.URL)
	if err != nil {
		return nil, err
	}
	return &enrolmentView{ID: e.ID, Secret: e.Secret, QR: qr}, nil
}

// SecondFactor serves POST /login/second-factor: fields method (totp,
// recovery or enrol), code, enrolment (for enrol), req and csrf_token.
// A wrong code spends the same failure budgets as a wrong password and
// changes nothing else; a right one finishes the sign-in (or steps the
// signed-in session up).
func (h *Handler) SecondFactor(c *gin.Context) {
	r := c.Request
	s, user, reqID, ok := h.secondFactorForm(c)
	if !ok {
		return
	}
	ctx, code, ip := r.Context(), r.PostFormValue("code"), c.ClientIP()
	var err error
	var codes []string
	switch r.PostFormValue("method") {
	case "totp":
		err = h.factors.VerifyTOTP(ctx, user, code, ip)
	case "recovery":
		_, err = h.factors.UseRecoveryCode(ctx, user, code, ip)
	case "enrol":
		codes, err = h.factors.ConfirmTOTP(ctx, user, r.PostFormValue("enrolment"), code, ip)
	default:
		h.errorPage(c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	data := secondFactorData{Title: "Second factor", CSRF: s.CSRFToken}
	var throttled *ratelimit.Throttled
	switch {
	case err == nil:
	case errors.Is(err, account.ErrBadCode):
		data.Error = "That code is not right, or was used already."
		h.renderSecondFactor(c, http.StatusBadRequest, reqID, user, &data)
		return
	case errors.Is(err, account.ErrNoEnrolment):
		data.Error = "That set-up expired. Scan the new code and try again."
		h.renderSecondFactor(c, http.StatusBadRequest, reqID, user, &data)
		return
	case errors.Is(err, account.ErrSecretUnreadable):
		h.log.WarnContext(ctx, "web: a TOTP secret does not open; set keys.encryption_key on every instance", "user_id", user.ID)
		data.Error = "Your authenticator app can no longer be checked here. Use a recovery code, then set the app up again."
		h.renderSecondFactor(c, http.StatusConflict, reqID, user, &data)
		return
	case errors.As(err, &throttled):
		c.Header("Retry-After", throttled.RetryAfterSeconds())
		data.Error = "Too many failed attempts. Please wait a minute and try again."
		h.renderSecondFactor(c, http.StatusTooManyRequests, reqID, user, &data)
		return
	default:
		h.serverError(c, "check second factor", err)
		return
	}
	next := h.nextAfterSecondFactor(s, reqID)
	if !h.CompleteSecondFactor(c, s, user, mfaAMR) {
		return
	}
	if codes != nil {
		h.render(c.Writer, http.StatusOK, "recoverycodes", recoveryCodesData{Title: "Recovery codes", Codes: codes, Next: next})
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, next)
}

// nextAfterSecondFactor is where a proved second factor goes: where the
// pending sign-in was headed, or back to the authorization request that
// asked for a step-up.
func (h *Handler) nextAfterSecondFactor(s *session, reqID string) string {
	if !s.signedIn() && s.Pending != nil && s.Pending.Next != "" {
		return s.Pending.Next
	}
	return h.nextAfterSignIn(reqID)
}

// secondFactorForm reads a posted second-factor form: the user it is for
// (secondFactorUser), the authorization request it continues, and a
// checked CSRF token. It reports false once it has answered.
func (h *Handler) secondFactorForm(c *gin.Context) (*session, *storage.User, string, bool) {
	r := c.Request
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, "The form could not be read.")
		return nil, nil, "", false
	}
	reqID := r.PostFormValue("req")
	s, user := h.secondFactorUser(c, reqID)
	if user == nil {
		return nil, nil, "", false
	}
	if !validCSRF(s, r) {
		h.errorPage(c, http.StatusForbidden, "This form expired or was not sent from this site. Reload the page and try again.")
		return nil, nil, "", false
	}
	return s, user, reqID, true
}

// CompleteSecondFactor is the one way a proved second factor signs the
// browser in: a pending sign-in becomes a new signed-in session (new
// cookie, new sid) that records amr; a signed-in session is stepped up
// in place (its amr and auth_time replaced; same sid, so its relying
// parties stay signed in). The passkey work calls it with its own amr.
// It reports false once it has shown an error page.
func (h *Handler) CompleteSecondFactor(c *gin.Context, s *session, user *storage.User, amr []string) bool {
	r := c.Request
	if !s.signedIn() {
		if _, err := h.signIn(c.Writer, r, s, user.ID, c.ClientIP(), amr); err != nil {
			h.serverError(c, "sign in", err)
			return false
		}
		h.log.InfoContext(r.Context(), "web: user signed in with a second factor", "user_id", user.ID)
		return true
	}
	s.AMR, s.AuthTime, s.LastSeen = amr, h.now(), h.now()
	if err := h.store.SaveSession(r.Context(), secret.SHA256(s.id), s.BrowserSession, h.idleTTL(s.BrowserSession)); err != nil {
		h.serverError(c, "step up", err)
		return false
	}
	h.log.InfoContext(r.Context(), "web: session stepped up with a second factor", "user_id", user.ID)
	return true
}

// recoveryCodesData is the page that shows new recovery codes, once.
type recoveryCodesData struct {
	Title string
	Codes []string
	Next  string
}
