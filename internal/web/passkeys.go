package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
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
	AccountSecurityPath      = "/account/security"
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

// Ceremony kinds: what a sealed ceremony may be used for.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"  // discoverable: any user's passkey
	ceremonyVerify   = "verify" // a known user's passkeys (second factor)
)

// ceremony is a passkey ceremony's state, sealed into its page.
type ceremony struct {
	Kind    string               `json:"k"`
	UserID  string               `json:"u,omitempty"` // register, verify
	Handle  []byte               `json:"h,omitempty"` // register: the handle to keep
	Form    string               `json:"f"`           // SHA-256 of the form's CSRF token
	Session webauthn.SessionData `json:"s"`
}

// Refusals of a passkey, each shown as its own fixed text.
var (
	errCeremonyExpired = errors.New("web: passkey ceremony expired or from another form")
	errPasskeyInvalid  = errors.New("web: passkey answer not valid")
	errPasskeyReplayed = errors.New("web: passkey ceremony already used")
	errPasskeyCounter  = errors.New("web: passkey signature counter went backwards")
	errPasskeyChanged  = errors.New("web: passkey changed during the ceremony")
	// ErrNoPasskeys: the user has no passkeys to verify with, or the
	// server offers none (an issuer on an IP address).
	ErrNoPasskeys = errors.New("web: the user has no passkeys")
)

// passkeyMessage is the page text of a refusal.
func passkeyMessage(err error) string {
	switch {
	case errors.Is(err, errCeremonyExpired):
		return "This passkey request expired. Reload the page and try again."
	case errors.Is(err, errPasskeyReplayed):
		return "This passkey answer was already used. Try again."
	case errors.Is(err, errPasskeyCounter):
		return "This passkey was refused: its signature counter went backwards, which a copied passkey would cause. Use another way to sign in, and tell your administrator."
	case errors.Is(err, errPasskeyChanged):
		return "This passkey was used elsewhere at the same moment. Try again."
	}
	return "This passkey is not registered here, or its answer could not be verified."
}

// newRelyingParty is the WebAuthn relying party of the issuer: its host
// is the RP ID, its origin the one origin accepted. An issuer on an IP
// address (a test set-up) can have no passkeys, which need a domain
// (WebAuthn §5.1.3): nil then.
func newRelyingParty(issuer *url.URL, name string, log *slog.Logger) (*webauthn.WebAuthn, error) {
	if net.ParseIP(issuer.Hostname()) != nil {
		if log != nil {
			log.Info("web: passkeys are off: the issuer's host is an IP address, and a passkey needs a domain name", "issuer", issuer.String())
		}
		return nil, nil
	}
	required := true
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          issuer.Hostname(),
		RPDisplayName: name,
		RPOrigins:     []string{issuer.Scheme + "://" + issuer.Host},
		// Passkeys: discoverable credentials, with user verification
		// when the authenticator can.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: &required,
			UserVerification: protocol.VerificationPreferred,
		},
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("web: passkeys for issuer %s: %w", issuer, err)
	}
	return wa, nil
}

// passkeyUser is a user as go-webauthn sees one.
type passkeyUser struct {
	user   *storage.User
	handle []byte
	keys   []*storage.Passkey
}

func (u *passkeyUser) WebAuthnID() []byte          { return u.handle }
func (u *passkeyUser) WebAuthnName() string        { return u.user.Username }
func (u *passkeyUser) WebAuthnDisplayName() string { return u.user.Username }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(u.keys))
	for _, k := range u.keys {
		out = append(out, toCredential(k))
	}
	return out
}

var _ webauthn.User = (*passkeyUser)(nil)

func toCredential(k *storage.Passkey) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, 0, len(k.Transports))
	for _, t := range k.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID: k.ID, PublicKey: k.PublicKey, AttestationType: k.AttestationType, AttestationFormat: k.AttestationFormat,
		Transport: transports,
		Flags:     webauthn.CredentialFlags{UserPresent: true, UserVerified: k.UserVerified, BackupEligible: k.BackupEligible, BackupState: k.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount,
			Attachment: protocol.AuthenticatorAttachment(k.Attachment)},
	}
}

// findPasskey returns the key of keys with credential id id.
func findPasskey(keys []*storage.Passkey, id []byte) *storage.Passkey {
	for _, k := range keys {
		if bytes.Equal(k.ID, id) {
			return k
		}
	}
	return nil
}

// passkeyUserByID loads a user, their handle and passkeys.
func (h *Handler) passkeyUserByID(ctx context.Context, userID string) (*passkeyUser, error) {
	user, err := h.users.GetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	handle, err := h.store.PasskeyHandle(ctx, userID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	keys, err := h.store.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	return &passkeyUser{user: user, handle: handle, keys: keys}, nil
}

func formHash(csrf string) string {
	sum := sha256.Sum256([]byte(csrf))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sealCeremony seals c for the form whose CSRF token is csrf.
func (h *Handler) sealCeremony(c ceremony, csrf string) (string, error) {
	c.Form = formHash(csrf)
	return h.box.Seal(secret.PurposePasskeyCeremony, c, c.Session.Expires)
}

// openCeremony opens a sealed ceremony of kind for the form whose CSRF
// token is csrf.
func (h *Handler) openCeremony(sealed, kind, csrf string) (*ceremony, error) {
	var c ceremony
	if sealed == "" || len(sealed) > maxCredentialJSON || h.box.Open(secret.PurposePasskeyCeremony, sealed, h.now(), &c) != nil ||
		c.Kind != kind || subtle.ConstantTimeCompare([]byte(c.Form), []byte(formHash(csrf))) != 1 {
		return nil, errCeremonyExpired
	}
	return &c, nil
}

// passkeyOffer is what a page needs to run a ceremony: the options for
// navigator.credentials (JSON) and the sealed state its form posts back.
type passkeyOffer struct {
	Options string
	State   string
}

func (h *Handler) offer(options any, c ceremony, csrf string) (*passkeyOffer, error) {
	c.Session.Expires = h.now().Add(ceremonyTTL)
	raw, err := json.Marshal(options)
	if err != nil {
		return nil, err
	}
	state, err := h.sealCeremony(c, csrf)
	if err != nil {
		return nil, err
	}
	return &passkeyOffer{Options: string(raw), State: state}, nil
}

// loginPasskeyOffer starts a discoverable sign-in for the login form
// whose CSRF token is csrf; nil when it cannot (the page then offers the
// password alone).
func (h *Handler) loginPasskeyOffer(csrf string) *passkeyOffer {
	if h.webauthn == nil {
		return nil
	}
	options, session, err := h.webauthn.BeginDiscoverableMediatedLogin(protocol.MediationDefault)
	if err != nil {
		h.log.Error("web: begin passkey sign-in", "err", err)
		return nil
	}
	o, err := h.offer(options, ceremony{Kind: ceremonyLogin, Session: *session}, csrf)
	if err != nil {
		h.log.Error("web: seal passkey sign-in", "err", err)
		return nil
	}
	return o
}

// passkeyResult is a verified assertion.
type passkeyResult struct {
	UserID string
	AMR    []string
}

// verifyAssertion checks a posted assertion against the sealed ceremony
// c: the signature by a passkey of the user (c.UserID for a known user's
// ceremony, the one the user handle names for a discoverable one), the
// ceremony not used before, the signature counter moving forward. Then
// the passkey's counter, backup state and last use are stored.
func (h *Handler) verifyAssertion(ctx context.Context, c *ceremony, credential string) (*passkeyResult, error) {
	if credential == "" || len(credential) > maxCredentialJSON {
		return nil, errPasskeyInvalid
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(credential))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPasskeyInvalid, err)
	}
	var owner *passkeyUser
	var cred *webauthn.Credential
	var lookupErr error // a storage failure, told apart from a bad answer
	switch c.Kind {
	case ceremonyLogin:
		_, cred, err = h.webauthn.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
			uid, err := h.store.PasskeyUser(ctx, handle)
			if err == nil {
				owner, err = h.passkeyUserByID(ctx, uid)
			}
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				lookupErr = err
			}
			return owner, err
		}, c.Session, parsed)
	case ceremonyVerify:
		if owner, err = h.passkeyUserByID(ctx, c.UserID); err != nil {
			return nil, err
		}
		cred, err = h.webauthn.ValidateLogin(owner, c.Session, parsed)
	default:
		return nil, errCeremonyExpired
	}
	if lookupErr != nil {
		return nil, lookupErr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPasskeyInvalid, protocolDetail(err))
	}
	stored := findPasskey(owner.keys, cred.ID)
	if stored == nil {
		return nil, errPasskeyInvalid
	}
	ttl := c.Session.Expires.Sub(h.now())
	if ttl <= 0 {
		return nil, errCeremonyExpired
	}
	flags := parsed.Response.AuthenticatorData.Flags
	// A counter that did not move forward is refused before anything is
	// written; a counter of zero (synced passkeys send one) proves
	// nothing, and the used-challenge record below is what stops a
	// replay of such an assertion.
	if cred.Authenticator.CloneWarning {
		h.log.WarnContext(ctx, "web: passkey signature counter went backwards; refused", "user_id", owner.user.ID,
			"stored", stored.SignCount, "presented", parsed.Response.AuthenticatorData.Counter)
		audit.Emit(ctx, audit.Event{Event: audit.PasskeyCounter, Outcome: audit.Failure, Actor: owner.user.ID, Subject: owner.user.ID,
			Reason: fmt.Sprintf("signature counter %d after %d", parsed.Response.AuthenticatorData.Counter, stored.SignCount)})
		return nil, errPasskeyCounter
	}
	fresh, err := h.store.RecordCeremony(ctx, c.Session.Challenge, min(ttl, storage.MaxCeremonyTTL))
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, errPasskeyReplayed
	}
	used := *stored
	used.SignCount, used.BackupState, used.UserVerified = cred.Authenticator.SignCount, flags.HasBackupState(), cred.Flags.UserVerified
	used.LastUsedAt = h.now().UTC()
	if err := h.store.UpdatePasskey(ctx, stored, &used); err != nil {
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			return nil, errPasskeyChanged
		}
		return nil, err
	}
	return &passkeyResult{UserID: owner.user.ID, AMR: passkeyAMR(&used, flags.HasUserVerified())}, nil
}

func protocolDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Type + ": " + pe.Details
	}
	return err.Error()
}

// passkeyAMR is what a passkey sign-in proved (RFC 8176): "hwk" for a
// device-bound passkey, "swk" for one the authenticator may copy
// elsewhere (backup eligible, as synced passkeys are): its key is then
// held by software the user does not hold in hand; "user" for the
// user-presence test every accepted assertion passed; and, when the
// authenticator verified the user (UV: a PIN or biometric on top of
// holding the key), "mfa".
func passkeyAMR(p *storage.Passkey, userVerified bool) []string {
	amr := []string{"hwk", "user"}
	if p.BackupEligible {
		amr[0] = "swk"
	}
	if userVerified {
		amr = append(amr, "mfa")
	}
	return amr
}

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
	data := loginData{Title: "Sign in", RequestID: reqID}
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
	h.completeSignIn(c, s, res.UserID, res.AMR, reqID)
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

// securityData is the account's security page; its passkey section is
// templates/passkeys.html.
type securityData struct {
	Title, CSRF, Username string
	Passkeys              passkeysSection
}

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

// AccountSecurity serves GET /account/security: the user's passkeys,
// and a form to add one.
func (h *Handler) AccountSecurity(c *gin.Context) {
	s, user, ok := h.signedInUser(c)
	if !ok {
		return
	}
	h.renderSecurity(c, http.StatusOK, s, user, "", c.Query("done"))
}

// securityNotices are the texts ?done= may choose after a change.
var securityNotices = map[string]string{"added": "Your passkey was added.", "renamed": "Your passkey was renamed.", "removed": "Your passkey was removed."}

func (h *Handler) renderSecurity(c *gin.Context, status int, s *session, user *storage.User, errText, done string) {
	ctx := c.Request.Context()
	u, err := h.passkeyUserByID(ctx, user.ID)
	if err != nil {
		h.serverError(c, "list passkeys", err)
		return
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
			h.serverError(c, "begin passkey registration", err)
			return
		}
	}
	h.render(c.Writer, status, "security", securityData{Title: "Security", CSRF: s.CSRFToken, Username: user.Username, Passkeys: sec})
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
	s, user, ok := h.accountForm(c)
	if !ok {
		return
	}
	ctx := r.Context()
	name, ok := passkeyName(r.PostFormValue("name"))
	if !ok {
		h.renderSecurity(c, http.StatusBadRequest, s, user, "Give the passkey a name of at most 64 characters.", "")
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
		h.renderSecurity(c, http.StatusBadRequest, s, user, fmt.Sprintf("You have %d passkeys, the most allowed. Remove one first.", storage.MaxPasskeys), "")
		return
	case errors.Is(err, storage.ErrConflict):
		h.renderSecurity(c, http.StatusBadRequest, s, user, "This passkey is registered already, or another one was added at the same time. Reload the page and try again.", "")
		return
	case errors.Is(err, errCeremonyExpired), errors.Is(err, errPasskeyInvalid):
		h.log.InfoContext(ctx, "web: passkey registration refused", "user_id", user.ID, "err", err)
		h.renderSecurity(c, http.StatusBadRequest, s, user, "The passkey could not be added: "+strings.TrimSuffix(passkeyRegisterMessage(err), "."), "")
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
		return "the request expired. Try again."
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

// accountForm reads a posted account form and checks its CSRF token.
func (h *Handler) accountForm(c *gin.Context) (*session, *storage.User, bool) {
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
	h.renderSecurity(c, http.StatusBadRequest, s, user, "That passkey is not yours or was removed.", "")
	return nil, false
}

// RenamePasskey serves POST /account/passkeys/rename: id, name,
// csrf_token.
func (h *Handler) RenamePasskey(c *gin.Context) {
	s, user, ok := h.accountForm(c)
	if !ok {
		return
	}
	name, ok := passkeyName(c.Request.PostFormValue("name"))
	if !ok {
		h.renderSecurity(c, http.StatusBadRequest, s, user, "Give the passkey a name of at most 64 characters.", "")
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
		h.renderSecurity(c, http.StatusConflict, s, user, "The passkey changed meanwhile. Try again.", "")
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
	s, user, ok := h.accountForm(c)
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
