package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// securityData is the account page of second factors.
type securityData struct {
	Title, CSRF, Username, Error string
	// TOTPOn: second factors are on (the authenticator app section).
	TOTPOn bool
	// TOTPSince is when the TOTP factor was confirmed; "" without one.
	TOTPSince string
	// RecoveryStatus says how many recovery codes are left and when one
	// was last used.
	RecoveryStatus string
	// Enrolment is a TOTP enrolment waiting for its confirming code.
	Enrolment *enrolmentView
	Passkeys  passkeysSection
}

// securityUser is signedInUser for the second-factor pages: 404 while
// second factors are off.
func (h *Handler) securityUser(c *gin.Context) (*session, *storage.User, bool) {
	if h.factors == nil {
		h.errorPage(c, http.StatusNotFound, "There is no such page.")
		return nil, nil, false
	}
	s, user, ok := h.signedInUser(c)
	if !ok {
		return nil, nil, false
	}
	if c.Request.Method == http.MethodPost {
		if err := c.Request.ParseForm(); err != nil || !validCSRF(s, c.Request) {
			h.errorPage(c, http.StatusForbidden, "This form expired or was not sent from this site. Reload the page and try again.")
			return nil, nil, false
		}
	}
	return s, user, true
}

// AccountSecurity serves GET /account/security[?done=]: the TOTP factor,
// its recovery codes or the pending enrolment, and the passkeys.
func (h *Handler) AccountSecurity(c *gin.Context) {
	s, user, ok := h.signedInUser(c)
	if !ok {
		return
	}
	h.renderSecurityPage(c, http.StatusOK, s, user, "", "", c.Query("done"))
}

// renderSecurity renders the security page with errText in its
// authenticator app section.
func (h *Handler) renderSecurity(c *gin.Context, status int, s *session, user *storage.User, errText string) {
	h.renderSecurityPage(c, status, s, user, errText, "", "")
}

func (h *Handler) renderSecurityPage(c *gin.Context, status int, s *session, user *storage.User, totpErr, passkeyErr, done string) {
	ctx := c.Request.Context()
	data := securityData{Title: "Sign-in security", CSRF: s.CSRFToken, Username: user.Username, Error: totpErr, TOTPOn: h.factors != nil}
	if h.factors != nil {
		st, err := h.factors.Status(ctx, user.ID)
		if err != nil {
			h.serverError(c, "load second factors", err)
			return
		}
		switch {
		case st.TOTP != nil:
			data.TOTPSince = pageDate(st.TOTP.CreatedAt)
			data.RecoveryStatus = plural(st.RecoveryLeft, "recovery code", "recovery codes") + " left."
			if !st.RecoveryUsedAt.IsZero() {
				data.RecoveryStatus = fmt.Sprintf("A recovery code was used on %s; %s left.", pageDate(st.RecoveryUsedAt), plural(st.RecoveryLeft, "recovery code", "recovery codes"))
			}
		case st.PendingTOTP != nil:
			if data.Enrolment, err = h.enrolment(ctx, user); err != nil {
				h.serverError(c, "show enrolment", err)
				return
			}
		}
	}
	var err error
	if data.Passkeys, err = h.passkeysSection(ctx, s, user, passkeyErr, done); err != nil {
		h.serverError(c, "passkeys", err)
		return
	}
	h.render(c.Writer, status, "security", data)
}

// BeginTOTP serves POST /account/security/totp: a new secret to enrol,
// shown on the page until confirmed (or EnrolmentTTL passes).
func (h *Handler) BeginTOTP(c *gin.Context) {
	s, user, ok := h.securityUser(c)
	if !ok {
		return
	}
	if _, err := h.factors.BeginTOTP(c.Request.Context(), user); h.refused(c, s, user, err) {
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, AccountSecurityPath)
}

// ConfirmTOTP serves POST /account/security/totp/confirm (enrolment,
// code): the factor counts from here on, and the new recovery codes are
// shown once. The session that confirmed has now proved a second factor.
func (h *Handler) ConfirmTOTP(c *gin.Context) {
	s, user, ok := h.securityUser(c)
	if !ok {
		return
	}
	r := c.Request
	codes, err := h.factors.ConfirmTOTP(r.Context(), user, r.PostFormValue("enrolment"), r.PostFormValue("code"), c.ClientIP())
	if h.refused(c, s, user, err) {
		return
	}
	if !h.CompleteSecondFactor(c, s, user, mfaAMR) {
		return
	}
	h.render(c.Writer, http.StatusOK, "recoverycodes", recoveryCodesData{Title: "Recovery codes", Codes: codes, Next: AccountSecurityPath})
}

// RemoveTOTP serves POST /account/security/totp/remove (code): a current
// TOTP code or the password turns the factor off, with its recovery
// codes. Either spends the failure budgets when wrong.
func (h *Handler) RemoveTOTP(c *gin.Context) {
	s, user, ok := h.securityUser(c)
	if !ok {
		return
	}
	r := c.Request
	ctx, code, ip := r.Context(), r.PostFormValue("code"), c.ClientIP()
	var err error
	if isTOTPCode(code) {
		err = h.factors.VerifyTOTP(ctx, user, code, ip)
	} else {
		_, err = account.Login(ctx, h.limiter, h.store, h.checker, user.Username, code, ip)
		if errors.Is(err, account.ErrBadCredentials) || errors.Is(err, account.ErrCredentialsTooLong) {
			err = account.ErrBadCode
		}
	}
	if h.refused(c, s, user, err) {
		return
	}
	if err := h.factors.Remove(ctx, user); err != nil {
		h.serverError(c, "remove second factor", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, AccountSecurityPath)
}

// RegenerateRecoveryCodes serves POST /account/security/recovery: new
// codes, shown once; the old ones no longer work.
func (h *Handler) RegenerateRecoveryCodes(c *gin.Context) {
	s, user, ok := h.securityUser(c)
	if !ok {
		return
	}
	codes, err := h.factors.RegenerateRecoveryCodes(c.Request.Context(), user)
	if errors.Is(err, storage.ErrNotFound) {
		h.renderSecurity(c, http.StatusBadRequest, s, user, "Set up an authenticator app first.")
		return
	}
	if err != nil {
		h.serverError(c, "regenerate recovery codes", err)
		return
	}
	h.render(c.Writer, http.StatusOK, "recoverycodes", recoveryCodesData{Title: "Recovery codes", Codes: codes, Next: AccountSecurityPath})
}

// refused renders the security page with the reason a code was refused
// and reports true, or reports false when err is nil.
func (h *Handler) refused(c *gin.Context, s *session, user *storage.User, err error) bool {
	var throttled *ratelimit.Throttled
	switch {
	case err == nil:
		return false
	case errors.Is(err, account.ErrBadCode):
		h.renderSecurity(c, http.StatusBadRequest, s, user, "That code or password is not right.")
	case errors.Is(err, account.ErrNoEnrolment):
		h.renderSecurity(c, http.StatusBadRequest, s, user, "That set-up expired. Start again.")
	case errors.Is(err, account.ErrEnrolled):
		h.renderSecurity(c, http.StatusBadRequest, s, user, "An authenticator app is set up already. Turn it off first.")
	case errors.Is(err, account.ErrSecretUnreadable):
		h.renderSecurity(c, http.StatusConflict, s, user, "This authenticator app can no longer be checked here (the server's key changed). Turn it off with your password and set it up again.")
	case errors.As(err, &throttled):
		c.Header("Retry-After", throttled.RetryAfterSeconds())
		h.renderSecurity(c, http.StatusTooManyRequests, s, user, "Too many failed attempts. Please wait a minute and try again.")
	default:
		h.serverError(c, "check code", err)
	}
	return true
}

// isTOTPCode reports whether s has the shape of a TOTP code (six digits)
// rather than a password.
func isTOTPCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
