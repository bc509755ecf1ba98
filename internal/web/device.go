package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The device flow's pages (RFC 8628 §3.3): the person signs in, enters
// the user code their device shows (or arrives with it in the URL,
// verification_uri_complete), confirms on a page that names the
// application (RFC 8628 §5.4: a code in a link may come from someone
// else), and is handed to the authorization endpoint, which asks for
// consent as for any application and records the answer for the
// device; DeviceDonePath then says to return to the device.
const (
	DevicePath     = "/device"
	DeviceDonePath = "/device/done"
)

// deviceRequestTTL bounds how long a confirmed code waits for consent;
// the device authorization's own expiry bounds it too.
const deviceRequestTTL = 10 * time.Minute

// DeviceRequests finds device authorizations by user code and stores the
// authorization request a confirmed one becomes (*storage.Store).
type DeviceRequests interface {
	GetDeviceByUserCode(ctx context.Context, userCodeHash string) (string, *storage.DeviceState, error)
	SaveAuthRequest(ctx context.Context, r *storage.AuthRequest) error
}

// deviceData is the device page: the code form, or (Confirm) the page
// that names the application a code belongs to.
type deviceData struct {
	Title, CSRF, UserCode, ClientName, Error string
	Confirm                                  bool
}

// DevicePage serves GET /device[?user_code=]: the code form, prefilled
// from verification_uri_complete. Nothing is looked up on a GET: a link
// alone neither spends the address's budget nor shows whose code it is.
func (h *Handler) DevicePage(c *gin.Context) {
	if h.devices == nil {
		h.errorPage(c, http.StatusNotFound, "Device sign-in is not available here.")
		return
	}
	code, _ := secret.NormalizeUserCode(c.Query("user_code"))
	s, err := h.load(c.Request)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return
	}
	if !s.signedIn() {
		c.Header("Cache-Control", "no-store")
		c.Redirect(http.StatusFound, LoginPath+"?"+url.Values{loginDeviceParam: {code}}.Encode())
		return
	}
	h.render(c.Writer, http.StatusOK, "device", deviceData{Title: "Connect a device", CSRF: s.CSRFToken, UserCode: secret.FormatUserCode(code)})
}

// Device serves POST /device: csrf_token, user_code and, from the
// confirmation page, confirm=yes. A code that names no pending
// authorization spends the address's budget of wrong codes (RFC 8628
// §5.1), and once that is spent no code is looked up at all; a right
// one costs nothing.
func (h *Handler) Device(c *gin.Context) {
	r := c.Request
	if h.devices == nil {
		h.errorPage(c, http.StatusNotFound, "Device sign-in is not available here.")
		return
	}
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
		h.errorPage(c, http.StatusForbidden, "This form expired or was not sent from this site. Open the device sign-in page again.")
		return
	}
	data := deviceData{Title: "Connect a device", CSRF: s.CSRFToken}
	code, deviceHash, st, client, ok := h.lookUpUserCode(c, r.PostFormValue("user_code"), &data)
	if !ok {
		return
	}
	data.UserCode = secret.FormatUserCode(code)
	if r.PostFormValue("confirm") != "yes" {
		data.Title, data.Confirm, data.ClientName = "Confirm the device", true, clientName(client)
		h.render(c.Writer, http.StatusOK, "device", data)
		return
	}
	now := h.now()
	req := &storage.AuthRequest{ID: secret.NewToken(16), ClientID: st.ClientID, RequestedScope: st.Scope, Resources: st.Resources,
		DeviceCodeHash: deviceHash, CreatedAt: now, ExpiresAt: now.Add(deviceRequestTTL)}
	if st.ExpiresAt.Before(req.ExpiresAt) {
		req.ExpiresAt = st.ExpiresAt
	}
	if err := h.devices.SaveAuthRequest(r.Context(), req); err != nil {
		h.serverError(c, "save device request", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, h.cfg.ResumePath+"?req="+url.QueryEscape(req.ID))
}

// lookUpUserCode finds the pending device authorization a typed code
// names, behind the budget of wrong codes, or renders the form again
// with the reason and reports false.
func (h *Handler) lookUpUserCode(c *gin.Context, typed string, data *deviceData) (string, string, *storage.DeviceState, *storage.Client, bool) {
	ctx := c.Request.Context()
	code, wellFormed := secret.NormalizeUserCode(typed)
	var deviceHash string
	var st *storage.DeviceState
	var client *storage.Client
	found, err := h.deviceGuesses.Guard(ctx, "", c.ClientIP(), func(ctx context.Context) (bool, error) {
		if !wellFormed {
			return false, nil
		}
		var err error
		deviceHash, st, err = h.devices.GetDeviceByUserCode(ctx, secret.SHA256(code))
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if st.Status != storage.DevicePending {
			return false, nil
		}
		client, err = h.clients.GetClient(ctx, st.ClientID)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	var throttled *ratelimit.Throttled
	switch {
	case found:
		return code, deviceHash, st, client, true
	case errors.As(err, &throttled):
		c.Header("Retry-After", throttled.RetryAfterSeconds())
		data.Error = "Too many wrong codes from your network. Please wait a minute and try again."
		h.render(c.Writer, http.StatusTooManyRequests, "device", *data)
	case err != nil:
		h.serverError(c, "check user code", err)
	default:
		data.UserCode = typed
		if !wellFormed {
			data.UserCode = ""
		}
		data.Error = "That code is not valid, has expired or was already used. Check the code your device shows."
		h.render(c.Writer, http.StatusBadRequest, "device", *data)
	}
	return "", "", nil, nil, false
}

// DeviceDone serves GET /device/done?result=approved|denied.
func (h *Handler) DeviceDone(c *gin.Context) {
	data := struct {
		Title    string
		Approved bool
	}{Title: "Return to your device", Approved: c.Query("result") == "approved"}
	h.render(c.Writer, http.StatusOK, "device_done", data)
}

// loginDeviceParam carries a device sign-in through the login page: its
// value is the user code (canonical, or empty), and after the login the
// browser goes to DevicePath with it.
const loginDeviceParam = "device"

// deviceReturn is where a login for the device page goes next.
func deviceReturn(code string) string {
	code, _ = secret.NormalizeUserCode(code)
	if code == "" {
		return DevicePath
	}
	return DevicePath + "?" + url.Values{"user_code": {secret.FormatUserCode(code)}}.Encode()
}

// DeviceGuesses is the budget of wrong user codes per address (a
// *ratelimit.Limiter with only a PerIP budget): only failures spend it.
type DeviceGuesses = account.Guard
