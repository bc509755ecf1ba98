package web

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/audit"
)

// A passkey as the second factor: after a right password (or for a
// step-up) the second-factor page offers an assertion by one of the
// user's own passkeys (BeginPasskeyVerification lists them), and
// SecondFactorPasskey finishes it as a TOTP code is finished.

// secondFactorPasskeyOffer adds the passkey ceremony to a second-factor page whose
// user has passkeys; without one (none left, passkeys off) the option is
// not shown.
func (h *Handler) secondFactorPasskeyOffer(c *gin.Context, userID string, data *secondFactorData) bool {
	if !data.Passkeys {
		return true
	}
	options, state, err := h.BeginPasskeyVerification(c.Request.Context(), userID, data.CSRF)
	switch {
	case errors.Is(err, ErrNoPasskeys):
		data.Passkeys = false
		return true
	case err != nil:
		h.serverError(c, "begin passkey verification", err)
		return false
	}
	data.Passkey = &passkeyOffer{Options: options, State: state}
	return true
}

// secondFactorPasskeyAMR is what a password and then a passkey proved
// (RFC 8176): "pwd", the passkey's "hwk" or "swk", "user" when the
// authenticator verified the person, and "mfa", which account.ACR turns
// into the mfa class. A passkey is a second factor whether or not it
// verified the person: it is something the user has.
func secondFactorPasskeyAMR(proved []string) []string {
	amr := []string{account.AMRPassword}
	for _, m := range []string{"hwk", "swk", "user"} {
		if slices.Contains(proved, m) {
			amr = append(amr, m)
		}
	}
	return append(amr, account.AMRMFA)
}

// SecondFactorPasskey serves POST /login/second-factor/passkey: fields
// credential (the assertion as JSON), state (the sealed ceremony of the
// second-factor page), csrf_token and req. A valid assertion by one of the
// waiting user's passkeys finishes the sign-in (or steps the session up);
// a refused one shows the page again with a new ceremony and stores
// nothing.
func (h *Handler) SecondFactorPasskey(c *gin.Context) {
	r := c.Request
	s, user, reqID, ok := h.secondFactorForm(c)
	if !ok {
		return
	}
	ctx := r.Context()
	proved, err := h.FinishPasskeyVerification(ctx, user.ID, s.CSRFToken, r.PostFormValue("state"), r.PostFormValue("credential"))
	if errors.Is(err, ErrNoPasskeys) {
		err = errCeremonyExpired
	}
	if err != nil {
		msg, refusal := PasskeyRefusal(err)
		if !refusal {
			h.serverError(c, "verify passkey", err)
			return
		}
		h.log.InfoContext(ctx, "web: passkey second factor refused", "user_id", user.ID, "err", err)
		audit.Emit(ctx, audit.Event{Event: audit.SignIn, Outcome: audit.Failure, Actor: user.ID, Subject: user.ID,
			Reason: "second factor passkey: " + refusalWord(err)})
		data := secondFactorData{Title: "Second factor", CSRF: s.CSRFToken, Error: msg}
		h.renderSecondFactor(c, http.StatusBadRequest, reqID, user, &data)
		return
	}
	next := h.nextAfterSecondFactor(s, reqID)
	if !h.CompleteSecondFactor(c, s, user, secondFactorPasskeyAMR(proved)) {
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, next)
}
