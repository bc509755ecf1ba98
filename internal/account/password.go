package account

import (
	"context"
	"errors"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// UserByUsername finds a user by login name.
type UserByUsername interface {
	GetUserByUsername(ctx context.Context, username string) (*storage.User, error)
}

// CheckPassword returns the user whose password this is. An unknown
// username and a wrong password both answer ok=false and both cost one
// hash check, so neither the answer nor its timing tells whether the
// user exists. The password grant and the login page both use it.
func CheckPassword(ctx context.Context, users UserByUsername, checker *secret.Checker, username, password string) (*storage.User, bool, error) {
	user, err := users.GetUserByUsername(ctx, username)
	stored := ""
	switch {
	case err == nil:
		stored = user.PasswordHash
	case !errors.Is(err, storage.ErrNotFound):
		return nil, false, err
	}
	ok, err := checker.Check(ctx, stored, password) // "" (no such user) still costs a check
	if err != nil || !ok {
		return nil, false, err
	}
	return user, true, nil
}
