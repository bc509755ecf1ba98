package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// TOTP parameters (RFC 6238): every authenticator app supports these.
const (
	totpPeriod = 30 * time.Second
	totpDigits = otp.DigitsSix
	// totpSkew accepts the step before and after the current one, for
	// clock drift and typing time (RFC 6238 §5.2 recommends at most one).
	totpSkew = 1
	// EnrolmentTTL is how long a TOTP secret shown for enrolment waits
	// for its confirming code.
	EnrolmentTTL = 10 * time.Minute
	// RecoveryCodeCount is how many recovery codes a user gets at once.
	RecoveryCodeCount = 10
	// maxCodeLen bounds a submitted code before any work on it.
	maxCodeLen = 64
)

// Errors of the second-factor checks. A spent budget is a
// *ratelimit.Throttled, an overload errors.Is storage.ErrUnavailable.
var (
	// ErrBadCode: the code is wrong, was used already, or belongs to no
	// factor of the user. It spent failure budget.
	ErrBadCode = errors.New("account: wrong or used code")
	// ErrNoEnrolment: the enrolment to confirm is no longer pending.
	ErrNoEnrolment = errors.New("account: no pending enrolment")
	// ErrEnrolled: the user has a TOTP factor; a new one is enrolled only
	// after that one is removed (which asks a code or the password), so
	// that a session alone cannot replace it.
	ErrEnrolled = errors.New("account: a totp factor is enrolled already")
	// ErrSecretUnreadable: the TOTP secret was sealed with a key this
	// process does not have (keys.encryption_key changed, or none is set
	// and the secret was sealed by another process). The person signs in
	// with a recovery code and sets the app up again; nothing is lost
	// but that factor, and it is not a server fault worth a 500.
	ErrSecretUnreadable = errors.New("account: the totp secret cannot be opened with this server's key encryption key")
)

// neverExpires seals TOTP secrets with no expiry of their own: they live
// as long as the factor.
var neverExpires = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// SecondFactorStore is the part of the data layer second factors use;
// *storage.Store is one.
type SecondFactorStore = storage.SecondFactorStore

var _ SecondFactorStore = (*storage.Store)(nil)

// Passkeys says whether a user has passkeys that can serve as a second
// factor. The passkey work provides it; without it nobody has any.
type Passkeys interface {
	HasPasskeys(ctx context.Context, userID string) (bool, error)
}

// SecondFactors enrols and checks TOTP factors and recovery codes. The
// TOTP secret is sealed with box (derived from the key encryption key that
// also encrypts the signing keys) before it is stored; every wrong code
// spends the same failure budgets as a wrong password (Guard).
type SecondFactors struct {
	Store    SecondFactorStore
	Box      *secret.Box
	Guard    Guard
	Passkeys Passkeys // nil: none
	Issuer   string   // the authenticator app's label: the product name
	Now      func() time.Time
}

// TOTPEnrolment is a secret being enrolled: what the account page shows.
type TOTPEnrolment struct {
	ID     string
	Secret string // base32, for typing in
	URL    string // otpauth:// URI, for the QR code
}

func (m *SecondFactors) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func purposeTOTP(userID string) string { return "oauth2d totp secret v1 " + userID }

// Status returns the user's factors: what the account page shows and the
// sign-in asks for.
func (m *SecondFactors) Status(ctx context.Context, userID string) (*storage.SecondFactors, error) {
	return m.Store.GetSecondFactors(ctx, userID)
}

// Has reports whether the user has a second factor (TOTP or a passkey).
func (m *SecondFactors) Has(ctx context.Context, userID string) (bool, error) {
	f, err := m.Store.GetSecondFactors(ctx, userID)
	if err != nil {
		return false, err
	}
	if f.TOTP != nil {
		return true, nil
	}
	return m.HasPasskeys(ctx, userID)
}

// HasPasskeys reports whether the passkey work knows passkeys of the user.
func (m *SecondFactors) HasPasskeys(ctx context.Context, userID string) (bool, error) {
	if m.Passkeys == nil {
		return false, nil
	}
	return m.Passkeys.HasPasskeys(ctx, userID)
}

// BeginTOTP draws a new secret for user and keeps it pending, replacing an
// earlier unconfirmed one; an enrolment still pending is shown again
// instead of a new one, so that reloading the page keeps the QR code the
// person already scanned.
func (m *SecondFactors) BeginTOTP(ctx context.Context, user *storage.User) (*TOTPEnrolment, error) {
	f, err := m.Store.GetSecondFactors(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	if f.TOTP != nil {
		return nil, ErrEnrolled
	}
	if f.PendingTOTP != nil {
		if e, err := m.open(user, f.PendingTOTP); err == nil {
			return e, nil
		}
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: m.Issuer, AccountName: user.Username, Period: uint(totpPeriod / time.Second),
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
	if err != nil {
		return nil, fmt.Errorf("account: totp secret: %w", err)
	}
	sealed, err := m.Box.Seal(purposeTOTP(user.ID), key.Secret(), neverExpires)
	if err != nil {
		return nil, err
	}
	now := m.now()
	p := &storage.TOTPFactor{ID: secret.NewToken(12), Sealed: sealed, CreatedAt: now.UTC(), Until: now.Add(EnrolmentTTL)}
	if err := m.Store.SetPendingTOTP(ctx, user.ID, p); err != nil {
		return nil, err
	}
	return &TOTPEnrolment{ID: p.ID, Secret: key.Secret(), URL: totpURL(m.Issuer, user.Username, key.Secret())}, nil
}

func (m *SecondFactors) open(user *storage.User, f *storage.TOTPFactor) (*TOTPEnrolment, error) {
	var sec string
	if err := m.Box.Open(purposeTOTP(user.ID), f.Sealed, m.now(), &sec); err != nil {
		return nil, fmt.Errorf("%w (user %s): %v", ErrSecretUnreadable, user.ID, err)
	}
	return &TOTPEnrolment{ID: f.ID, Secret: sec, URL: totpURL(m.Issuer, user.Username, sec)}, nil
}

// totpURL is the Key URI an authenticator app reads from the QR code
// (the otpauth:// format Google Authenticator defined).
func totpURL(issuer, username, sec string) string {
	v := url.Values{"secret": {sec}, "issuer": {issuer}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}
	return "otpauth://totp/" + url.PathEscape(issuer+":"+username) + "?" + v.Encode()
}

// ConfirmTOTP makes the pending enrolment id the user's factor once code
// is one of its codes, and answers the user's new recovery codes (shown
// once). A wrong code spends failure budget and answers ErrBadCode.
func (m *SecondFactors) ConfirmTOTP(ctx context.Context, user *storage.User, id, code, ip string) ([]string, error) {
	f, err := m.Store.GetSecondFactors(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	if f.TOTP != nil {
		return nil, ErrEnrolled
	}
	if f.PendingTOTP == nil || f.PendingTOTP.ID != id {
		return nil, ErrNoEnrolment
	}
	e, err := m.open(user, f.PendingTOTP)
	if err != nil {
		return nil, err
	}
	var step int64
	if err := m.guarded(ctx, user, ip, func() (bool, error) { step = m.matchStep(e.Secret, code); return step >= 0, nil }); err != nil {
		return nil, err
	}
	codes, hashes := newRecoveryCodes()
	if err := m.Store.ConfirmTOTP(ctx, user.ID, id, step, hashes); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrNoEnrolment
		}
		return nil, err
	}
	audit.Emit(ctx, audit.Event{Event: audit.SecondFactor, Outcome: audit.Success, Actor: user.ID, Subject: user.ID, IP: ip, Reason: "totp_enrolled"})
	return codes, nil
}

// VerifyTOTP checks code against the user's TOTP factor and spends its
// time step, so the same code is never accepted twice (RFC 6238 §5.2).
func (m *SecondFactors) VerifyTOTP(ctx context.Context, user *storage.User, code, ip string) error {
	f, err := m.Store.GetSecondFactors(ctx, user.ID)
	if err != nil {
		return err
	}
	return m.guarded(ctx, user, ip, func() (bool, error) {
		if f.TOTP == nil {
			return false, nil
		}
		e, err := m.open(user, f.TOTP)
		if err != nil {
			return false, err
		}
		step := m.matchStep(e.Secret, code)
		if step < 0 {
			return false, nil
		}
		err = m.Store.UseTOTPStep(ctx, user.ID, f.TOTP.ID, step)
		if errors.Is(err, storage.ErrFactorReplayed) || errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	})
}

// UseRecoveryCode spends one of the user's recovery codes and answers how
// many are left.
func (m *SecondFactors) UseRecoveryCode(ctx context.Context, user *storage.User, code, ip string) (int, error) {
	left := 0
	err := m.guarded(ctx, user, ip, func() (bool, error) {
		norm, ok := normalizeRecoveryCode(code)
		if !ok {
			return false, nil
		}
		n, err := m.Store.UseRecoveryCode(ctx, user.ID, secret.SHA256(norm))
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		left = n
		return err == nil, err
	})
	if err == nil {
		audit.Emit(ctx, audit.Event{Event: audit.SecondFactor, Outcome: audit.Success, Actor: user.ID, Subject: user.ID, IP: ip, Reason: "recovery_code_used"})
	}
	return left, err
}

// guarded runs check behind the password budgets of the user's name and
// ip: a false check spends them, exactly as a wrong password does.
func (m *SecondFactors) guarded(ctx context.Context, user *storage.User, ip string, check func() (bool, error)) error {
	ok, err := m.Guard.Guard(ctx, user.Username, ip, func(context.Context) (bool, error) { return check() })
	if errors.Is(err, ratelimit.ErrBusy) {
		return overloaded{err}
	}
	if err != nil {
		return err
	}
	if !ok {
		audit.Emit(ctx, audit.Event{Event: audit.SignIn, Outcome: audit.Failure, Actor: user.ID, Subject: user.ID, IP: ip, Reason: "bad_second_factor"})
		return ErrBadCode
	}
	return nil
}

// RegenerateRecoveryCodes voids the user's recovery codes and answers new
// ones (shown once).
func (m *SecondFactors) RegenerateRecoveryCodes(ctx context.Context, user *storage.User) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	if err := m.Store.ReplaceRecoveryCodes(ctx, user.ID, hashes); err != nil {
		return nil, err
	}
	audit.Emit(ctx, audit.Event{Event: audit.SecondFactor, Outcome: audit.Success, Actor: user.ID, Subject: user.ID, Reason: "recovery_codes_regenerated"})
	return codes, nil
}

// Remove forgets the user's TOTP factor and recovery codes. The caller
// has checked a current code or the password.
func (m *SecondFactors) Remove(ctx context.Context, user *storage.User) error {
	if err := m.Store.RemoveSecondFactors(ctx, user.ID); err != nil {
		return err
	}
	audit.Emit(ctx, audit.Event{Event: audit.SecondFactor, Outcome: audit.Success, Actor: user.ID, Subject: user.ID, Reason: "totp_removed"})
	return nil
}

// matchStep returns the time step whose code code is, within the skew,
// or -1. Codes are compared in constant time.
func (m *SecondFactors) matchStep(sec, code string) int64 {
	code = strings.TrimSpace(code)
	if len(code) != totpDigits.Length() {
		return -1
	}
	now := m.now()
	found := int64(-1)
	for d := -totpSkew; d <= totpSkew; d++ {
		t := now.Add(time.Duration(d) * totpPeriod)
		want, err := totp.GenerateCodeCustom(sec, t, totp.ValidateOpts{Period: uint(totpPeriod / time.Second), Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && found < 0 {
			found = t.Unix() / int64(totpPeriod/time.Second)
		}
	}
	return found
}

// TOTPCode is the code of sec at t: for tests that act as an
// authenticator app.
func TOTPCode(sec string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(sec, t, totp.ValidateOpts{Period: uint(totpPeriod / time.Second), Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// Recovery codes are 80 random bits in 16 base32 characters, written in
// groups of four. They are stored as SHA-256, not argon2id: a slow hash
// protects guessable secrets (passwords) from a stolen database, but
// nobody can search 2^80 codes against a fast hash either, and a slow
// hash here would only let anyone who submits codes spend the server's
// CPU.
var recoveryEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

func newRecoveryCodes() (codes, hashes []string) {
	for range RecoveryCodeCount {
		b := make([]byte, 10)
		_, _ = rand.Read(b)
		raw := recoveryEncoding.EncodeToString(b)
		codes = append(codes, raw[0:4]+"-"+raw[4:8]+"-"+raw[8:12]+"-"+raw[12:16])
		hashes = append(hashes, secret.SHA256(raw))
	}
	return codes, hashes
}

// normalizeRecoveryCode drops separators and case; a code of the wrong
// shape is refused before it costs a Redis call.
func normalizeRecoveryCode(code string) (string, bool) {
	if len(code) > maxCodeLen {
		return "", false
	}
	norm := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(code))
	if len(norm) != 16 {
		return "", false
	}
	if _, err := recoveryEncoding.DecodeString(norm); err != nil {
		return "", false
	}
	return norm, true
}

// MFAPolicy says who must sign in with a second factor: everyone who has
// one, and everyone holding one of RequiredRoles (mfa.required_roles),
// who enrols one if they have none.
type MFAPolicy struct {
	Factors       *SecondFactors
	RequiredRoles []string
}

// Required reports whether user must prove a second factor to sign in.
func (p *MFAPolicy) Required(ctx context.Context, user *storage.User) (bool, error) {
	if p.RoleRequires(user) {
		return true, nil
	}
	return p.Factors.Has(ctx, user.ID)
}

// RoleRequires reports whether user's roles alone demand a second factor.
func (p *MFAPolicy) RoleRequires(user *storage.User) bool {
	for _, r := range user.Roles {
		if slices.Contains(p.RequiredRoles, r) {
			return true
		}
	}
	return false
}
