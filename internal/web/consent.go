package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// consentData is the consent page.
type consentData struct {
	Title, CSRF, RequestID, ClientName, Username, RedirectHost string
	Scopes                                                     []scopeLine
	// Resources are the APIs the access is for, when the request names
	// them (RFC 8707).
	Resources []string
	// RememberTicked: the "remember this decision" box starts ticked.
	RememberTicked bool
	// Unverified: no operator vouched for the client (it registered
	// itself): its name is its own claim, and the redirect host is what
	// the person can judge it by.
	Unverified bool
	// Device: the answer goes to a device (RFC 8628), not to a redirect.
	Device bool
}

// ConsentPage serves GET /consent?req=<id>. It shows what the stored
// request asks for; nothing on the page or in the form can change that.
func (h *Handler) ConsentPage(c *gin.Context) {
	r := c.Request
	reqID := c.Query("req")
	s, err := h.load(r)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return
	}
	if !s.signedIn() {
		c.Header("Cache-Control", "no-store")
		c.Redirect(http.StatusFound, LoginPath+"?req="+url.QueryEscape(reqID))
		return
	}
	ar, client, ok := h.pendingRequest(c, reqID)
	if !ok {
		return
	}
	if ar.UserID != s.UserID {
		// The authorize endpoint has not resolved this request's scope for
		// this user yet (another user signed in meanwhile): let it.
		c.Header("Cache-Control", "no-store")
		c.Redirect(http.StatusFound, h.cfg.ResumePath+"?req="+url.QueryEscape(ar.ID))
		return
	}
	data := consentData{Title: "Allow access", CSRF: s.CSRFToken, RequestID: ar.ID, ClientName: clientName(client),
		RedirectHost: redirectHost(ar.RedirectURI), Scopes: h.describeScopes(ar.Scope),
		RememberTicked: !h.cfg.ConsentRememberUnticked, Device: ar.DeviceCodeHash != "",
		Unverified: client.SelfRegistered}
	if h.resources != nil && len(ar.Resources) > 0 {
		data.Resources = h.resources.ResourceNames(r.Context(), ar.Resources)
	}
	if user, err := h.users.GetUser(r.Context(), s.UserID); err == nil {
		data.Username = user.Username
	}
	h.render(c.Writer, http.StatusOK, "consent", data, ar.RedirectURI)
}

// Consent serves POST /consent: csrf_token, req and decision=allow|deny
// (DESIGN.md §6), and remember. It records the decision on the stored
// request, for the signed-in user only, and hands back to the authorize
// endpoint, which issues the code or the access_denied error.
//
// The page sends remember=no from a hidden input and remember=yes from the
// ticked checkbox, so an unticked box is told apart from a client that
// never sends the field: that one gets the decision remembered, as before
// the box existed.
func (h *Handler) Consent(c *gin.Context) {
	r := c.Request
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	s, err := h.load(r)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return
	}
	if !validCSRF(s, r) || !s.signedIn() {
		h.errorPage(c, http.StatusForbidden, "This form expired or was not sent from this site. Go back to the application and start again.")
		return
	}
	decision := r.PostFormValue("decision")
	if decision != "allow" && decision != "deny" {
		h.errorPage(c, http.StatusBadRequest, "Choose Allow or Deny.")
		return
	}
	ar, client, ok := h.pendingRequest(c, r.PostFormValue("req"))
	if !ok {
		return
	}
	if ar.UserID != s.UserID {
		h.RenderError(c.Writer, r, http.StatusForbidden, "This request was made for another account. Go back to the application and start again.", client)
		return
	}
	ar.Decision, ar.DecidedBy = decision, s.UserID
	remember := r.PostForm["remember"]
	ar.DecisionOnce = len(remember) > 0 && !slices.Contains(remember, "yes")
	switch err := h.pending.SaveDecision(r.Context(), ar); {
	case errors.Is(err, storage.ErrNotFound):
		h.errorPage(c, http.StatusBadRequest, "This sign-in request has expired or was already answered. Go back to the application and start again.")
		return
	case err != nil:
		h.serverError(c, "save consent decision", err)
		return
	}
	audit.Emit(r.Context(), audit.Event{Event: map[string]string{"allow": audit.ConsentGranted, "deny": audit.ConsentDenied}[decision],
		Outcome: audit.Success, Actor: s.UserID, Subject: s.UserID, Client: ar.ClientID, Scope: audit.Join(ar.Scope)})
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, h.cfg.ResumePath+"?req="+url.QueryEscape(ar.ID))
}

// redirectHost names where the user will be sent, as they can check it.
func redirectHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.Host != "" {
		return u.Host
	}
	return u.Scheme + ":"
}
