package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// AccountPasswordPath is the change-password page.
const AccountPasswordPath = "/account/password"

// PasswordHasher hashes a new password (*secret.Hasher).
type PasswordHasher interface {
	Hash(password string) (string, error)
}

// passwordData is the change-password page.
type passwordData struct {
	Title, CSRF, Username string
	MinLength             int
	// Managed: the bootstrap file sets this user's password; it cannot be
	// changed here.
	Managed bool
	// Error says why the last attempt was refused; Done that it worked.
	Error string
	Done  bool
}

// AccountPasswordPage serves GET /account/password.
func (h *Handler) AccountPasswordPage(c *gin.Context) {
	s, user, ok := h.signedInUser(c)
	if !ok {
		return
	}
	h.render(c.Writer, http.StatusOK, "password", h.passwordPage(s, user, c.Query("done") == "1"))
}

func (h *Handler) passwordPage(s *session, user *storage.User, done bool) passwordData {
	return passwordData{Title: "Change your password", CSRF: s.CSRFToken, Username: user.Username,
		MinLength: account.MinPasswordLen, Managed: user.ManagedBy == storage.ManagedByBootstrap, Done: done}
}

// ChangePassword serves POST /account/password (current_password,
// new_password, new_password_again, csrf_token). The current password is
// checked by account.Login, so a wrong one spends the same brute-force
// budgets as on the login page; the new one must pass
// account.CheckNewPassword (the person chooses it: account.ByOwner). On
// success every other session of the person ends (their applications are
// told), every refresh-token family of the person is revoked (no family is
// bound to a browser session, so none belongs to this one) with its
// newest access token, and the change is audited.
func (h *Handler) ChangePassword(c *gin.Context) {
	s, ok := h.accountForm(c)
	if !ok {
		return
	}
	r := c.Request
	ctx := r.Context()
	user, err := h.users.GetUser(ctx, s.UserID)
	if err != nil {
		h.serverError(c, "load user", err)
		return
	}
	data := h.passwordPage(s, user, false)
	refuse := func(status int, msg string) {
		data.Error = msg
		h.render(c.Writer, status, "password", data)
	}
	if data.Managed {
		// The bootstrap file would put its own password back at the next
		// start; the admin API refuses to change such a user too.
		refuse(http.StatusConflict, "This account's password is set in the server's configuration and cannot be changed here.")
		return
	}
	current, next, again := r.PostFormValue("current_password"), r.PostFormValue("new_password"), r.PostFormValue("new_password_again")
	if current == "" || next == "" {
		refuse(http.StatusBadRequest, "Enter your current password and the new one.")
		return
	}
	if next != again {
		refuse(http.StatusBadRequest, "The two new passwords are not the same.")
		return
	}
	normalized, err := account.CheckNewPassword(next, user.Username, user.Email, account.ByOwner)
	var fe *account.FieldError
	if errors.As(err, &fe) {
		refuse(http.StatusBadRequest, "The new password "+fe.Detail+".")
		return
	}
	if _, err := account.Login(ctx, h.limiter, h.store, h.checker, user.Username, current, c.ClientIP()); err != nil {
		var throttled *ratelimit.Throttled
		switch {
		case errors.Is(err, account.ErrBadCredentials), errors.Is(err, account.ErrCredentialsTooLong):
			h.auditPasswordChange(c, s.UserID, audit.Failure, "bad_credentials")
			refuse(http.StatusBadRequest, "Your current password is not right.")
		case errors.As(err, &throttled):
			c.Header("Retry-After", throttled.RetryAfterSeconds())
			refuse(http.StatusTooManyRequests, "Too many failed attempts. Please wait a minute and try again.")
		default:
			h.serverError(c, "check password", err)
		}
		return
	}
	if user.PasswordHash, err = h.hasher.Hash(normalized); err != nil {
		h.serverError(c, "hash password", err)
		return
	}
	if err := h.passwords.UpdateUser(ctx, user); err != nil {
		h.serverError(c, "save password", err)
		return
	}
	// Whoever else holds a session or a token of the person's, perhaps
	// with the old password, loses it.
	ended, err := h.endOtherSessions(ctx, s)
	if err != nil {
		h.serverError(c, "end other sessions", err)
		return
	}
	families, err := h.revoker.RevokeGrant(ctx, s.UserID, "")
	if err != nil {
		h.serverError(c, "revoke refresh tokens", err)
		return
	}
	h.log.InfoContext(ctx, "web: password changed", "user_id", s.UserID, "sessions_ended", ended, "families", families)
	h.auditPasswordChange(c, s.UserID, audit.Success, "")
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, AccountPasswordPath+"?done=1")
}

func (h *Handler) auditPasswordChange(c *gin.Context, userID, outcome, reason string) {
	audit.Emit(c.Request.Context(), audit.Event{Event: audit.PasswordChanged, Outcome: outcome, Actor: userID,
		Subject: userID, IP: c.ClientIP(), Reason: reason})
}
