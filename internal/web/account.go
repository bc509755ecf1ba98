package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// consentsData is the account page listing remembered consents.
type consentsData struct {
	Title, CSRF, Username string
	Consents              []consentLine
}

type consentLine struct {
	ClientID, ClientName, GrantedAt string
	Scopes                          []scopeLine
}

// AccountConsents serves GET /account/consents: what the signed-in user
// has allowed which application.
func (h *Handler) AccountConsents(c *gin.Context) {
	r := c.Request
	s, user, ok := h.signedInUser(c)
	if !ok {
		return
	}
	consents, err := h.store.ListConsents(r.Context(), s.UserID)
	if err != nil {
		h.serverError(c, "list consents", err)
		return
	}
	data := consentsData{Title: "Connected applications", CSRF: s.CSRFToken, Username: user.Username}
	for _, cs := range consents {
		name := cs.ClientID
		if client, err := h.clients.GetClient(r.Context(), cs.ClientID); err == nil {
			if !client.OwnsGrant(cs.ClientGeneration) {
				continue // given to a deleted client of the same id: it holds nothing
			}
			name = clientName(client)
		}
		data.Consents = append(data.Consents, consentLine{ClientID: cs.ClientID, ClientName: name,
			GrantedAt: cs.GrantedAt.UTC().Format("2 January 2006"), Scopes: h.describeScopes(cs.Scope)})
	}
	h.render(c.Writer, http.StatusOK, "consents", data)
}

// RevokeConsent serves POST /account/consents/revoke (client_id,
// csrf_token). Withdrawing consent also ends what it granted: the client's
// refresh-token families for this user are revoked and their newest access
// tokens denied, so the client cannot go on acting for the user.
func (h *Handler) RevokeConsent(c *gin.Context) {
	r := c.Request
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	s, _, ok := h.signedInUser(c)
	if !ok {
		return
	}
	if !validCSRF(s, r) {
		h.errorPage(c, http.StatusForbidden, "This form expired or was not sent from this site. Reload the page and try again.")
		return
	}
	clientID := r.PostFormValue("client_id")
	if clientID == "" {
		h.errorPage(c, http.StatusBadRequest, "No application was named.")
		return
	}
	ctx := r.Context()
	if err := h.store.DeleteConsent(ctx, s.UserID, clientID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "delete consent", err)
		return
	}
	families, err := h.revoker.RevokeGrant(ctx, s.UserID, clientID)
	if err != nil {
		h.serverError(c, "revoke the grant", err)
		return
	}
	if err := h.logouts.GrantEnded(ctx, s.UserID, clientID); err != nil {
		h.serverError(c, "tell the application of the logout", err)
		return
	}
	h.log.InfoContext(ctx, "web: consent revoked", "user_id", s.UserID, "client_id", clientID, "families", families)
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, AccountConsentPath)
}

// signedInUser returns the signed-in session and its user, or sends the
// browser to the login page and reports false.
func (h *Handler) signedInUser(c *gin.Context) (*session, *storage.User, bool) {
	s, err := h.load(c.Request)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return nil, nil, false
	}
	if s.signedIn() {
		user, err := h.users.GetUser(c.Request.Context(), s.UserID)
		if err == nil {
			return s, user, true
		}
		if !errors.Is(err, storage.ErrNotFound) {
			h.serverError(c, "load user", err)
			return nil, nil, false
		}
	}
	if c.Request.Method == http.MethodPost {
		h.errorPage(c, http.StatusForbidden, "You are not signed in.")
		return nil, nil, false
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, LoginPath)
	return nil, nil, false
}
