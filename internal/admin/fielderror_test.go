package admin

import (
	"errors"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func TestFieldErrorSplitsBootstrapErrors(t *testing.T) {
	userErrs := account.ValidateUser(&storage.User{Username: "a b", Roles: []string{"x"}})
	clientErrs := account.ValidateClient(&storage.Client{ID: "web", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"x"}}, account.Policy{})
	tests := []struct {
		name          string
		err           error
		field, detail string
	}{
		{"client from the validator", clientErrs[0], "redirect_uris", clientErrs[0].(*account.FieldError).Detail},
		{"user from the validator", userErrs[0], "username", "must be 1-128 printable characters without spaces"},
		{"password from the validator", passwordError("short"), "password", "must be at least 8 characters"},
		{"another shape", errors.New("something odd"), "", "something odd"},
		{"not a field error", errors.New(`client "x": Some Thing: detail`), "", `client "x": Some Thing: detail`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fieldError(tc.err)
			if got.Field != tc.field || got.Detail != tc.detail {
				t.Fatalf("fieldError(%q) = %+v, want field %q detail %q", tc.err, got, tc.field, tc.detail)
			}
		})
	}
}

func passwordError(p string) error {
	_, err := account.CheckNewPassword(p, "", "", account.ByOperator)
	return err
}
