package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// grantsData is the account page listing the applications the user
// has given access to.
type grantsData struct {
	Title, CSRF, Username string
	Grants                []grantLine
	// Partial: the user has more live logins than the store reads
	// (storage.MaxGrantFamilies); the page says some may be missing.
	Partial bool
}

// grantLine is one application. Sessions says how many of its logins
// can still refresh ("" without any), LastSignIn when the latest was.
type grantLine struct {
	ClientID, ClientName, GrantedAt string
	Scopes                          []scopeLine
	Sessions, LastSignIn            string
}

// AccountConsents serves GET /account/consents: every application that
// holds access to the signed-in user's account, whatever gave it: a
// remembered consent, or refresh tokens of a first-party app (never
// asked) or of a consent the user chose not to remember. Each can be
// removed (RevokeConsent).
func (h *Handler) AccountConsents(c *gin.Context) {
	r := c.Request
	s, user, ok := h.signedInUser(c)
	if !ok {
		return
	}
	grants, err := h.store.UserGrants(r.Context(), s.UserID)
	if err != nil {
		h.serverError(c, "list grants", err)
		return
	}
	data := grantsData{Title: "Connected applications", CSRF: s.CSRFToken, Username: user.Username, Partial: grants.Partial}
	for _, g := range grants.Grants {
		name := g.ClientID
		if client, err := h.clients.GetClient(r.Context(), g.ClientID); err == nil {
			name = clientName(client)
		}
		line := grantLine{ClientID: g.ClientID, ClientName: name, GrantedAt: pageDate(g.GrantedAt), Scopes: h.describeScopes(g.Scope)}
		if g.Families > 0 {
			line.Sessions, line.LastSignIn = plural(g.Families, "active sign-in", "active sign-ins"), pageDate(g.LastAuth)
		}
		data.Grants = append(data.Grants, line)
	}
	h.render(c.Writer, http.StatusOK, "consents", data)
}

// pageDate is how the account page writes a day.
func pageDate(t time.Time) string { return t.UTC().Format("2 January 2006") }

// plural writes n with the noun that fits it.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// RevokeConsent serves POST /account/consents/revoke (client_id,
// csrf_token): the user removes an application's access, whatever gave
// it. The remembered consent, if any, is forgotten, and the client's
// refresh-token families for this user are revoked and their newest
// access tokens denied, so the client cannot go on acting for the user.
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
	h.log.InfoContext(ctx, "web: grant revoked", "user_id", s.UserID, "client_id", clientID, "families", families)
	audit.Emit(ctx, audit.Event{Event: audit.ConsentWithdrawn, Outcome: audit.Success, Actor: s.UserID, Subject: s.UserID, Client: clientID})
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
