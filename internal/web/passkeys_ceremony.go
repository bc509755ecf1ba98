package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// The passkey ceremonies (WebAuthn Level 3) that the pages of passkeys.go
// run: the relying party, the sealed ceremony state, the verification of
// an assertion and what it proved.

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
