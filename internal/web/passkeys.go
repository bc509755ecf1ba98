package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// Passkeys (WebAuthn Level 3) on the login and account pages.
//
// No ceremony leaves state in Redis before it succeeds (DESIGN.md §4):
// its SessionData is sealed (secret.Box) into the page's form, bound to
// the form's CSRF token, and lives ceremonyTTL. A ceremony that passes
// is remembered as used (storage.RecordCeremony) until it would have
// expired anyway, so an assertion is accepted once; only a valid
// assertion by a registered passkey writes that record.

// Paths of the passkey pages and forms.
const (
	AccountPasskeyAddPath    = "/account/passkeys/add"
	AccountPasskeyRenamePath = "/account/passkeys/rename"
	AccountPasskeyRemovePath = "/account/passkeys/remove"
	PasskeyLoginPath         = "/login/passkey"
)

const (
	// ceremonyTTL is how long a page's passkey ceremony may be answered.
	ceremonyTTL = 10 * time.Minute
	// maxCredentialJSON bounds the credential a form carries: a
	// registration with a certificate chain in its attestation is a few
	// kilobytes.
	maxCredentialJSON = 32 << 10
	// handleLen is the size of a new WebAuthn user handle: random, not
	// the username (WebAuthn §14.6.1).
	handleLen = 32
)

// PasskeyLogin serves POST /login/passkey: fields credential (the
// assertion as JSON), state (the sealed ceremony), csrf_token and req. A
// valid assertion signs its user in, and the pending authorization
// request goes on as after a password.
func (h *Handler) PasskeyLogin(c *gin.Context) {
	r := c.Request
	if h.webauthn == nil {
		h.errorPage(c, http.StatusNotFound, noPasskeysMessage)
		return
	}
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	reqID := r.PostFormValue("req")
	device := reqID == "" && r.PostForm.Has(loginDeviceParam)
	data := loginData{Title: "Sign in", RequestID: reqID, Device: device}
	if device {
		data.DeviceCode, _ = secret.NormalizeUserCode(r.PostFormValue(loginDeviceParam))
	}
	var target string
	if reqID != "" {
		ar, client, ok := h.pendingRequest(c, reqID)
		if !ok {
			return
		}
		data.ClientName, data.ClientURI, target = clientName(client), client.ClientURI, ar.RedirectURI
	}
	s, err := h.load(r)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "load session", err)
		return
	}
	refuse := func(status int, message string) {
		if data.CSRF, err = h.formCSRF(c.Writer, r, s); err != nil {
			h.serverError(c, "login form", err)
			return
		}
		data.Error, data.Passkey = message, h.loginPasskeyOffer(data.CSRF)
		h.render(c.Writer, status, "login", data, target)
	}
	if !h.validLoginCSRF(s, r) {
		refuse(http.StatusForbidden, "Your sign-in form expired. Please try again.")
		return
	}
	ctx := r.Context()
	cer, err := h.openCeremony(r.PostFormValue("state"), ceremonyLogin, r.PostFormValue("csrf_token"))
	var res *passkeyResult
	if err == nil {
		res, err = h.verifyAssertion(ctx, cer, r.PostFormValue("credential"))
	}
	if err != nil {
		if !isPasskeyRefusal(err) {
			h.serverError(c, "verify passkey", err)
			return
		}
		h.log.InfoContext(ctx, "web: passkey sign-in refused", "err", err)
		audit.Emit(ctx, audit.Event{Event: audit.SignIn, Outcome: audit.Failure, Reason: "passkey: " + refusalWord(err)})
		refuse(http.StatusBadRequest, passkeyMessage(err))
		return
	}
	audit.Emit(ctx, audit.Event{Event: audit.SignIn, Outcome: audit.Success, Actor: res.UserID, Subject: res.UserID, Reason: "passkey"})
	h.completeSignIn(c, s, res.UserID, res.AMR, h.loginNext(&data))
}

func isPasskeyRefusal(err error) bool {
	for _, e := range []error{errCeremonyExpired, errPasskeyInvalid, errPasskeyReplayed, errPasskeyCounter, errPasskeyChanged, storage.ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refusalWord names a refusal in the audit log.
func refusalWord(err error) string {
	switch {
	case errors.Is(err, errCeremonyExpired):
		return "ceremony expired"
	case errors.Is(err, errPasskeyReplayed):
		return "replayed"
	case errors.Is(err, errPasskeyCounter):
		return "counter went backwards"
	case errors.Is(err, errPasskeyChanged):
		return "concurrent use"
	}
	return "invalid"
}

// HasPasskeys reports whether the user has registered a passkey (for
// the second-factor step).
func (h *Handler) HasPasskeys(ctx context.Context, userID string) (bool, error) {
	if h.webauthn == nil {
		return false, nil
	}
	keys, err := h.store.ListPasskeys(ctx, userID)
	return len(keys) > 0, err
}

// BeginPasskeyVerification starts an assertion by one of a known user's
// passkeys (their allowed credentials listed: a second factor after the
// password) for the form whose CSRF token is csrf. It returns the options
// for navigator.credentials.get and the sealed state the form posts back
// to FinishPasskeyVerification; ErrNoPasskeys if the user has none.
func (h *Handler) BeginPasskeyVerification(ctx context.Context, userID, csrf string) (options, state string, err error) {
	if h.webauthn == nil {
		return "", "", ErrNoPasskeys
	}
	u, err := h.passkeyUserByID(ctx, userID)
	if err != nil {
		return "", "", err
	}
	if len(u.keys) == 0 || len(u.handle) == 0 {
		return "", "", ErrNoPasskeys
	}
	opts, session, err := h.webauthn.BeginLogin(u)
	if err != nil {
		return "", "", fmt.Errorf("web: begin passkey verification: %w", err)
	}
	o, err := h.offer(opts, ceremony{Kind: ceremonyVerify, UserID: userID, Session: *session}, csrf)
	if err != nil {
		return "", "", err
	}
	return o.Options, o.State, nil
}

// FinishPasskeyVerification checks the assertion (credential, as JSON)
// of a ceremony BeginPasskeyVerification started for userID and the form
// of CSRF token csrf, and returns what it proved (RFC 8176 values). An
// error the user caused has PasskeyRefusal text.
func (h *Handler) FinishPasskeyVerification(ctx context.Context, userID, csrf, state, credential string) ([]string, error) {
	if h.webauthn == nil {
		return nil, ErrNoPasskeys
	}
	c, err := h.openCeremony(state, ceremonyVerify, csrf)
	if err != nil {
		return nil, err
	}
	if c.UserID != userID {
		return nil, errCeremonyExpired
	}
	res, err := h.verifyAssertion(ctx, c, credential)
	if err != nil {
		return nil, err
	}
	return res.AMR, nil
}

// PasskeyRefusal returns the page text for an error of
// FinishPasskeyVerification that the user caused, and false for a
// failure of the server.
func PasskeyRefusal(err error) (string, bool) {
	if !isPasskeyRefusal(err) {
		return "", false
	}
	return passkeyMessage(err), true
}

// passkeysSection is the passkey part of the account's security page
// (templates/passkeys.html).
type passkeysSection struct {
	CSRF, Error, Notice string
	Keys                []passkeyLine
	// Offer registers a new passkey; nil when the user has MaxPasskeys.
	Offer *passkeyOffer
	Max   int
	// Unavailable: the server offers no passkeys (newRelyingParty).
	Unavailable bool
}

const noPasskeysMessage = "Passkeys are not available on this server."

type passkeyLine struct {
	ID, Name, Created, LastUsed string
	Synced                      bool
}

// securityNotices are the texts ?done= may choose after a change.
var securityNotices = map[string]string{"added": "Your passkey was added.", "renamed": "Your passkey was renamed.", "removed": "Your passkey was removed."}

// renderPasskeys renders the security page with errText (or the notice
// done names) in its passkey section.
func (h *Handler) renderPasskeys(c *gin.Context, status int, s *session, user *storage.User, errText, done string) {
	h.renderSecurityPage(c, status, s, user, "", errText, done)
}

// passkeysSection lists the user's passkeys and offers to add one.
func (h *Handler) passkeysSection(ctx context.Context, s *session, user *storage.User, errText, done string) (passkeysSection, error) {
	u, err := h.passkeyUserByID(ctx, user.ID)
	if err != nil {
		return passkeysSection{}, fmt.Errorf("list passkeys: %w", err)
	}
	sec := passkeysSection{CSRF: s.CSRFToken, Error: errText, Notice: securityNotices[done], Max: storage.MaxPasskeys}
	for _, k := range u.keys {
		line := passkeyLine{ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name, Created: pageDate(k.CreatedAt), LastUsed: "never", Synced: k.BackupState}
		if !k.LastUsedAt.IsZero() {
			line.LastUsed = pageDate(k.LastUsedAt)
		}
		sec.Keys = append(sec.Keys, line)
	}
	sec.Unavailable = h.webauthn == nil
	if len(u.keys) < storage.MaxPasskeys && !sec.Unavailable {
		if sec.Offer, err = h.registrationOffer(u, s.CSRFToken); err != nil {
			return passkeysSection{}, fmt.Errorf("begin passkey registration: %w", err)
		}
	}
	return sec, nil
}

// registrationOffer starts registering a passkey for u. A user without
// a handle gets a new random one, kept only if the passkey is.
func (h *Handler) registrationOffer(u *passkeyUser, csrf string) (*passkeyOffer, error) {
	if len(u.handle) == 0 {
		u.handle = make([]byte, handleLen)
		if _, err := rand.Read(u.handle); err != nil {
			return nil, err
		}
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(u.keys))
	for _, k := range u.keys {
		cred := toCredential(k)
		exclude = append(exclude, cred.Descriptor())
	}
	options, session, err := h.webauthn.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		return nil, err
	}
	return h.offer(options, ceremony{Kind: ceremonyRegister, UserID: u.user.ID, Handle: u.handle, Session: *session}, csrf)
}

// AddPasskey serves POST /account/passkeys/add: fields credential (the
// new credential as JSON), state, name and csrf_token.
func (h *Handler) AddPasskey(c *gin.Context) {
	r := c.Request
	if h.webauthn == nil {
		h.errorPage(c, http.StatusNotFound, noPasskeysMessage)
		return
	}
	s, user, ok := h.passkeyForm(c)
	if !ok {
		return
	}
	ctx := r.Context()
	name, ok := passkeyName(r.PostFormValue("name"))
	if !ok {
		h.renderPasskeys(c, http.StatusBadRequest, s, user, "Give the passkey a name of at most 64 characters.", "")
		return
	}
	p, handle, err := h.newPasskey(ctx, s, user, r.PostFormValue("state"), r.PostFormValue("credential"))
	if err == nil {
		p.Name = name
		err = h.store.AddPasskey(ctx, handle, p)
	}
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrPasskeysFull):
		h.renderPasskeys(c, http.StatusBadRequest, s, user, fmt.Sprintf("You have %d passkeys, the most allowed. Remove one first.", storage.MaxPasskeys), "")
		return
	case errors.Is(err, storage.ErrConflict):
		h.renderPasskeys(c, http.StatusBadRequest, s, user, "This passkey is registered already, or another one was added at the same time. Reload the page and try again.", "")
		return
	case errors.Is(err, errCeremonyExpired), errors.Is(err, errPasskeyInvalid):
		h.log.InfoContext(ctx, "web: passkey registration refused", "user_id", user.ID, "err", err)
		h.renderPasskeys(c, http.StatusBadRequest, s, user, "The passkey could not be added: "+passkeyRegisterMessage(err), "")
		return
	default:
		h.serverError(c, "add passkey", err)
		return
	}
	audit.Emit(ctx, audit.Event{Event: audit.PasskeyAdded, Outcome: audit.Success, Actor: user.ID, Subject: user.ID, Resource: "passkey " + name})
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, AccountSecurityPath+"?done=added")
}

func passkeyRegisterMessage(err error) string {
	if errors.Is(err, errCeremonyExpired) {
		return "the request expired. Reload the page and try again."
	}
	return "your authenticator's answer could not be verified."
}

// newPasskey verifies a registration of the signed-in user's.
func (h *Handler) newPasskey(ctx context.Context, s *session, user *storage.User, state, credential string) (*storage.Passkey, []byte, error) {
	cer, err := h.openCeremony(state, ceremonyRegister, s.CSRFToken)
	if err != nil {
		return nil, nil, err
	}
	if cer.UserID != user.ID {
		return nil, nil, errCeremonyExpired
	}
	if credential == "" || len(credential) > maxCredentialJSON {
		return nil, nil, errPasskeyInvalid
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(credential))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errPasskeyInvalid, protocolDetail(err))
	}
	u, err := h.passkeyUserByID(ctx, user.ID)
	if err != nil {
		return nil, nil, err
	}
	u.handle = cer.Handle
	cred, err := h.webauthn.CreateCredential(u, cer.Session, parsed)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errPasskeyInvalid, protocolDetail(err))
	}
	if len(cred.ID) > storage.MaxPasskeyIDLen {
		return nil, nil, errPasskeyInvalid
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		if len(transports) < 8 && len(t) <= 32 {
			transports = append(transports, string(t))
		}
	}
	now := h.now().UTC()
	return &storage.Passkey{ID: cred.ID, UserID: user.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		Transports: transports, AAGUID: cred.Authenticator.AAGUID, Attachment: string(cred.Authenticator.Attachment),
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat, CreatedAt: now}, cer.Handle, nil
}

// passkeyName is the trimmed name a user gave a passkey, or "Passkey".
func passkeyName(raw string) (string, bool) {
	name := strings.TrimSpace(raw)
	if name == "" {
		name = "Passkey"
	}
	return name, len(name) <= storage.MaxPasskeyNameLen && utf8.ValidString(name)
}

// passkeyForm reads a posted passkey form of the security page (its
// credential may be larger than the other account forms allow) and checks
// its CSRF token.
func (h *Handler) passkeyForm(c *gin.Context) (*session, *storage.User, bool) {
	r := c.Request
	if err := r.ParseForm(); err != nil {
		h.errorPage(c, http.StatusBadRequest, "The form could not be read.")
		return nil, nil, false
	}
	s, user, ok := h.signedInUser(c)
	if !ok {
		return nil, nil, false
	}
	if !validCSRF(s, r) {
		h.errorPage(c, http.StatusForbidden, "This form expired or was not sent from this site. Reload the page and try again.")
		return nil, nil, false
	}
	return s, user, true
}

// postedPasskey finds the signed-in user's passkey the form names (id,
// base64url).
func (h *Handler) postedPasskey(c *gin.Context, s *session, user *storage.User) (*storage.Passkey, bool) {
	id, err := base64.RawURLEncoding.DecodeString(c.Request.PostFormValue("id"))
	if err == nil && len(id) > 0 && len(id) <= storage.MaxPasskeyIDLen {
		keys, err := h.store.ListPasskeys(c.Request.Context(), user.ID)
		if err != nil {
			h.serverError(c, "list passkeys", err)
			return nil, false
		}
		if k := findPasskey(keys, id); k != nil {
			return k, true
		}
	}
	h.renderPasskeys(c, http.StatusBadRequest, s, user, "That passkey is not yours or was removed.", "")
	return nil, false
}

// RenamePasskey serves POST /account/passkeys/rename: id, name,
// csrf_token.
func (h *Handler) RenamePasskey(c *gin.Context) {
	s, user, ok := h.passkeyForm(c)
	if !ok {
		return
	}
	name, ok := passkeyName(c.Request.PostFormValue("name"))
	if !ok {
		h.renderPasskeys(c, http.StatusBadRequest, s, user, "Give the passkey a name of at most 64 characters.", "")
		return
	}
	k, ok := h.postedPasskey(c, s, user)
	if !ok {
		return
	}
	renamed := *k
	renamed.Name = name
	switch err := h.store.UpdatePasskey(c.Request.Context(), k, &renamed); {
	case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
		h.renderPasskeys(c, http.StatusConflict, s, user, "The passkey changed meanwhile. Try again.", "")
		return
	case err != nil:
		h.serverError(c, "rename passkey", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, AccountSecurityPath+"?done=renamed")
}

// RemovePasskey serves POST /account/passkeys/remove: id, csrf_token.
func (h *Handler) RemovePasskey(c *gin.Context) {
	s, user, ok := h.passkeyForm(c)
	if !ok {
		return
	}
	k, ok := h.postedPasskey(c, s, user)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if err := h.store.DeletePasskey(ctx, user.ID, k.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(c, "remove passkey", err)
		return
	}
	audit.Emit(ctx, audit.Event{Event: audit.PasskeyRemoved, Outcome: audit.Success, Actor: user.ID, Subject: user.ID, Resource: "passkey " + k.Name})
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, AccountSecurityPath+"?done=removed")
}

// PasskeyScript serves the passkey pages' one script; like the
// stylesheet, it changes only with a release.
func (h *Handler) PasskeyScript(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "text/javascript; charset=utf-8", h.script)
}
