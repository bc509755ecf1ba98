package account

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/oauth2d/oauth2d/internal/account/commonpasswords"
)

// Password length bounds (NIST SP 800-63B-4 §3.1.1.2). Lengths are counted
// in Unicode code points of the NFKC form, as the guideline asks.
const (
	// MinPasswordLen is the shortest password a person may choose for
	// themself: 15, the minimum for a password that is the only factor.
	// A password is the only factor of every account here until a second
	// factor is enrolled, and a second factor can be removed later
	// without the password being chosen again, so the shorter minimum
	// that the guideline allows beside a second factor is not offered.
	MinPasswordLen = 15
	// MinPasswordLenFloor is the guideline's absolute minimum (8), below
	// which nothing is accepted: what an operator may set (ByOperator), and
	// the least the bootstrap file may hold (CheckBootstrapPassword).
	MinPasswordLenFloor = 8
	// MaxPasswordLen bounds a password in bytes, before and after
	// normalisation, so that a single hash, and the normalisation before
	// it, never costs more than a login should. Login refuses a longer
	// password unchecked. It allows passwords of well over 64 characters
	// (at least 256 of any script: no code point takes more than 4 bytes).
	MaxPasswordLen = 1024
)

// NormalizePassword returns the form of a password that is hashed and
// checked: Unicode NFKC (NIST SP 800-63B-4 §3.1.1.2, UAX #15), so that
// the same password typed on two keyboards that compose characters
// differently is the same password. ASCII is unchanged.
func NormalizePassword(p string) string { return norm.NFKC.String(p) }

// SetBy says who chooses a password, which decides how short it may be.
type SetBy int

const (
	// ByOwner: the person chooses their own password (the account page).
	// At least MinPasswordLen.
	ByOwner SetBy = iota
	// ByOperator: an operator sets it (admin API, CLI), typically a first
	// password the person replaces on the account page. At least
	// MinPasswordLenFloor; every other rule holds.
	ByOperator
)

// CheckNewPassword is the one password policy: the account page's change
// of password, the admin API and the CLI call it before they hash a
// password, and the bootstrap file's passwords go through it too
// (CheckBootstrapPassword). It refuses a password longer than
// MaxPasswordLen bytes (before any other work), not UTF-8 or with control
// characters, shorter than MinPasswordLen characters (by the owner) or
// MinPasswordLenFloor (by an operator) once normalised, on the
// common-password list (commonpasswords), or equal to the username, the
// email address or its local part (case aside). It imposes no
// composition rules (no "one digit, one symbol"): §3.1.1.2 forbids them.
// It returns the normalised password, the one to hash, or a *FieldError
// (field "password") whose Detail says what to change.
func CheckNewPassword(password, username, email string, by SetBy) (string, error) {
	p := judgePassword(password, username, email)
	var detail string
	switch {
	case by == ByOwner && p.short:
		detail = fmt.Sprintf("must be at least %d characters", MinPasswordLen)
	case p.floor != "":
		detail = p.floor
	default:
		detail = p.advice
	}
	if detail != "" {
		return "", &FieldError{Field: "password", Detail: detail}
	}
	return p.normalized, nil
}

// CheckBootstrapPassword checks a password of the bootstrap file. The
// file is the operator's, reviewed like configuration and often a demo
// of public passwords (demo: true), so only what no password may be
// (too long, not text, shorter than MinPasswordLenFloor) is an error; what
// CheckNewPassword refuses beyond that is a warning the server logs at
// start. It returns the normalised password.
func CheckBootstrapPassword(password, username, email string) (normalized, warning string, err error) {
	p := judgePassword(password, username, email)
	if p.floor != "" {
		return "", "", &FieldError{Field: "password", Detail: p.floor}
	}
	warning = p.advice
	if warning == "" && p.short {
		warning = fmt.Sprintf("is shorter than %d characters", MinPasswordLen)
	}
	return p.normalized, warning, nil
}

// passwordCheck is what checkPassword found: floor, what makes the
// password unacceptable anywhere; short, under MinPasswordLen; advice,
// what else makes it unacceptable as a password chosen now ("" for none).
type passwordCheck struct {
	normalized, floor, advice string
	short                     bool
}

func judgePassword(password, username, email string) passwordCheck {
	if len(password) > MaxPasswordLen {
		return passwordCheck{floor: fmt.Sprintf("must be at most %d bytes", MaxPasswordLen)}
	}
	if !utf8.ValidString(password) {
		return passwordCheck{floor: "must be text (UTF-8)"}
	}
	if strings.ContainsFunc(password, unicode.IsControl) {
		return passwordCheck{floor: "must not contain control characters (tabs, line breaks)"}
	}
	p := passwordCheck{normalized: NormalizePassword(password)}
	n := utf8.RuneCountInString(p.normalized)
	switch {
	case len(p.normalized) > MaxPasswordLen:
		return passwordCheck{floor: fmt.Sprintf("must be at most %d bytes", MaxPasswordLen)}
	case n < MinPasswordLenFloor:
		return passwordCheck{floor: fmt.Sprintf("must be at least %d characters", MinPasswordLenFloor), short: true}
	case commonpasswords.Contains(p.normalized):
		p.advice = "is one of the most commonly used passwords; choose another"
	case isIdentifier(p.normalized, username, email):
		p.advice = "must not be the username or email address"
	}
	p.short = n < MinPasswordLen
	return p
}

// isIdentifier reports whether p is the username, the email address or
// its local part, case aside.
func isIdentifier(p, username, email string) bool {
	local, _, _ := strings.Cut(email, "@")
	for _, id := range []string{username, email, local} {
		if id != "" && strings.EqualFold(p, NormalizePassword(id)) {
			return true
		}
	}
	return false
}
