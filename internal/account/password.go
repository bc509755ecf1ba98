package account

import (
	"context"
	"errors"

	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// MaxUsernameLen is the longest username the registration policy accepts;
// a longer one cannot belong to anyone and is refused unchecked.
const MaxUsernameLen = 128

// MaxClientIDLen is the longest client id the registration policy
// accepts (clientIDPattern).
const MaxClientIDLen = 128

// Errors of Login. A refusal for a spent budget is a *ratelimit.Throttled.
var (
	// ErrBadCredentials: the username and password do not match a user
	// (an unknown user reads the same).
	ErrBadCredentials = errors.New("account: invalid username or password")
	// ErrCredentialsTooLong: a username or password longer than any the
	// policy accepts. It is refused before any hash or Redis work and
	// spends no budget: it cannot be anyone's password.
	ErrCredentialsTooLong = errors.New("account: username or password too long")
)

// overloaded is Login's error for ratelimit.ErrBusy: too many password
// attempts at once on this instance, or one waited too long for its turn.
// Nothing was judged. It is answered as a storage outage is, 503 with
// Retry-After (problem.Unavailable holds for it), at the token endpoint
// (temporarily_unavailable) and the login page alike: the client may
// retry, and it must not read as a wrong password or a spent budget.
type overloaded struct{ err error }

func (e overloaded) Error() string   { return "account: password checks overloaded: " + e.err.Error() }
func (e overloaded) Unwrap() []error { return []error{e.err, storage.ErrUnavailable} }

// UserByUsername finds a user by login name.
type UserByUsername interface {
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
}

// Guard runs a password check unless the brute-force budgets of username
// and ip are spent, or answers ratelimit.ErrBusy when overloaded;
// *ratelimit.Limiter is one.
type Guard interface {
	Guard(ctx context.Context, username, ip string, check func(context.Context) (bool, error)) (bool, error)
}

// Login is the one password login of the password grant and the login
// page: bounded input, brute-force budgets (only failures spend them), then
// checkPassword. Its errors are ErrCredentialsTooLong, ErrBadCredentials,
// a *ratelimit.Throttled, an overload (errors.Is ratelimit.ErrBusy and
// storage.ErrUnavailable), or a failure of Redis or the checker.
func Login(ctx context.Context, guard Guard, users UserByUsername, checker *secret.Checker, username, password, ip string) (*storage.User, error) {
	if len(username) > MaxUsernameLen || len(password) > MaxPasswordLen {
		return nil, ErrCredentialsTooLong
	}
	var user *storage.User
	ok, err := guard.Guard(ctx, username, ip, func(ctx context.Context) (bool, error) {
		var ok bool
		var err error
		user, ok, err = checkPassword(ctx, users, checker, username, password)
		return ok, err
	})
	if errors.Is(err, ratelimit.ErrBusy) {
		return nil, overloaded{err}
	}
	var throttled *ratelimit.Throttled
	if errors.As(err, &throttled) {
		auditSignIn(ctx, user, username, ip, "throttled")
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		auditSignIn(ctx, user, username, ip, "bad_credentials")
		return nil, ErrBadCredentials
	}
	auditSignIn(ctx, user, username, ip, "")
	return user, nil
}

// auditSignIn records a password check's outcome (failed unless reason
// is ""). The user, when the username is someone's, is named by id; an
// unknown username only by a hash of it, and the password never.
func auditSignIn(ctx context.Context, user *storage.User, username, ip, reason string) {
	ev := audit.Event{Event: audit.SignIn, Outcome: audit.Success, IP: ip, Reason: reason}
	switch {
	case user != nil:
		ev.Actor, ev.Subject = user.ID, user.ID
	default:
		ev.Subject = audit.UnknownUsername(username)
	}
	if reason != "" {
		ev.Outcome = audit.Failure
	}
	audit.Emit(ctx, ev)
}

// checkPassword returns the user of username and whether this is their
// password. An unknown
// username and a wrong password both answer ok=false and both cost one
// hash check, so neither the answer nor its timing tells whether the
// user exists. It is Login's alone: unexported so that no caller can skip
// the brute-force budgets.
func checkPassword(ctx context.Context, users UserByUsername, checker *secret.Checker, username, password string) (*storage.User, bool, error) {
	user, err := users.GetUserByUsername(ctx, username)
	stored := ""
	switch {
	case err == nil:
		stored = user.PasswordHash
	case !errors.Is(err, storage.ErrNotFound):
		return nil, false, err
	}
	// Passwords are hashed in their NFKC form (NormalizePassword); a hash
	// made before that, of a password that normalisation changes, is
	// tried as typed too. ASCII never needs the second check.
	normalized := NormalizePassword(password)
	ok, err := checker.Check(ctx, stored, normalized) // "" (no such user) still costs a check
	if err == nil && !ok && stored != "" && normalized != password {
		ok, err = checker.Check(ctx, stored, password)
	}
	if err != nil {
		return nil, false, err
	}
	return user, ok, nil // the user also when !ok: the audit names whose password was wrong
}
