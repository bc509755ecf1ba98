package admin

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/resource"
)

// auditReasonKey holds, in the gin context, what a handler wants the
// change's event to say it did ("second factors removed: totp").
const auditReasonKey = "admin.audit_reason"

// Audit records who read or changed what (audit.AdminChange,
// audit.AdminRead): every request, reads too, since a list of clients or
// users is itself worth knowing who looked at. The CLI records its
// changes as the same event (cmd/oauth2d), so one search finds both.
// What a change sets off (tokens cut off, say) is recorded with the
// admin as its actor.
func (a *API) Audit(c *gin.Context) {
	claims, _ := resource.ClaimsFrom(c)
	actor := "admin:" + claims.Subject
	c.Request = c.Request.WithContext(audit.With(c.Request.Context(), audit.Event{Actor: actor}))
	c.Next()
	ev := audit.Event{Event: audit.AdminChange, Outcome: audit.Success, Actor: actor, Client: claims.ClientID,
		Subject: c.Param("id"), Resource: c.Request.Method + " " + c.Request.URL.Path}
	if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
		ev.Event = audit.AdminRead
		if q := c.Request.URL.RawQuery; q != "" {
			ev.Resource += "?" + q
		}
	}
	if status := c.Writer.Status(); status >= http.StatusBadRequest {
		ev.Outcome, ev.Reason = audit.Failure, fmt.Sprintf("HTTP %d", status)
	} else {
		ev.Reason = c.GetString(auditReasonKey)
	}
	audit.Emit(c.Request.Context(), ev)
}
