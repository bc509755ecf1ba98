package oauth

import (
	"errors"
	"net/http"
	"slices"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The device flow's browser half (RFC 8628 §3.3). The pages hand a user
// code's device authorization to the authorization endpoint as a stored
// request with a DeviceCodeHash and no redirect URI; from there it goes
// the way every authorization request goes (who is signed in, which
// scope the policy grants, remembered consent, first-party clients, the
// consent page), and only its answer differs: it is recorded on the
// device authorization, once, and the person is told to return to their
// device.

var errPageDeviceAnswered = &pageError{status: http.StatusBadRequest,
	message: "This code has expired or was already answered. Start again on your device."}

// answerable reports whether the client can still be answered as req
// asks: at a registered redirect URI, or, for a device authorization,
// while it may still use the device code grant.
func (a *Authorizer) answerable(client *storage.Client, req *storage.AuthRequest) bool {
	if req.DeviceCodeHash != "" {
		return a.devices != nil && slices.Contains(client.GrantTypes, account.GrantDeviceCode)
	}
	return redirectURIRegistered(client.RedirectURIs, req.RedirectURI)
}

// approveDevice records the approval on the device authorization for the
// device's next poll: the user, the scope the policy granted and the
// browser session, for the ID token's auth_time and sid.
func (a *Authorizer) approveDevice(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest,
	client *storage.Client, user *storage.User, sess *storage.BrowserSession, scope []string) {
	grant := &storage.DeviceGrant{UserID: user.ID, Scope: scope, AuthTime: sess.AuthTime, SID: sess.SID, SessionExpiresAt: sess.ExpiresAt}
	if !a.decideDevice(w, r, req, true, grant) {
		return
	}
	a.rememberSessionClient(r.Context(), sess, client, scope)
	redirect(w, r, a.cfg.DeviceDonePath+"?result=approved")
}

// denyDevice answers the device authorization with access_denied, whatever
// refused it (the person, or a scope the policy no longer grants). A
// failure of the server's leaves it pending: the person may try again.
func (a *Authorizer) denyDevice(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, e *Error) {
	if e.Status >= 500 {
		a.fail(w, r, e)
		return
	}
	if !a.decideDevice(w, r, req, false, &storage.DeviceGrant{UserID: req.UserID}) {
		return
	}
	redirect(w, r, a.cfg.DeviceDonePath+"?result=denied")
}

func (a *Authorizer) decideDevice(w http.ResponseWriter, r *http.Request, req *storage.AuthRequest, approve bool, grant *storage.DeviceGrant) bool {
	if a.devices == nil {
		a.pages.RenderError(w, r, errPageDeviceAnswered.status, errPageDeviceAnswered.message, nil)
		return false
	}
	err := a.devices.DecideDevice(r.Context(), req.DeviceCodeHash, approve, grant)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict):
		a.pages.RenderError(w, r, errPageDeviceAnswered.status, errPageDeviceAnswered.message, nil)
		return false
	case err != nil:
		a.fail(w, r, err)
		return false
	}
	return true
}
