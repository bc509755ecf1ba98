package admin

import (
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// ClientView is a client as the admin API and `oauth2d client … --json`
// show it: never its secret hash.
type ClientView struct {
	account.ClientRegistration
	// ManagedBy is "bootstrap" for a client of the bootstrap file, which
	// cannot be changed or deleted here; absent otherwise.
	ManagedBy string    `json:"managed_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func ViewClient(c *storage.Client) ClientView {
	v := ClientView{ClientRegistration: account.RegistrationOf(c), ManagedBy: c.ManagedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	v.RedirectURIs, v.GrantTypes, v.Scopes = nonNil(v.RedirectURIs), nonNil(v.GrantTypes), nonNil(v.Scopes)
	return v
}

// clientWithSecret answers a request that generated a secret: the only
// time it is ever shown.
type clientWithSecret struct {
	Client       ClientView `json:"client"`
	ClientSecret string     `json:"client_secret,omitempty"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ResourceView is a resource as the admin API and `oauth2d resource …
// --json` show it.
type ResourceView struct {
	account.ResourceRegistration
	// ManagedBy is "builtin" for a resource the server serves itself and
	// "bootstrap" for one of the bootstrap file: neither can be changed
	// or deleted here. Absent otherwise.
	ManagedBy string `json:"managed_by,omitempty"`
	// The times are absent for a built-in resource, which is not stored.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

func ViewResource(r *storage.Resource) ResourceView {
	v := ResourceView{ResourceRegistration: account.ResourceRegistrationOf(r), ManagedBy: r.ManagedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	v.Scopes = nonNil(v.Scopes)
	return v
}

// UserView is a user as the admin API and `oauth2d user … --json` show
// it: never the password hash.
type UserView struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Roles    []string `json:"roles"`
	Name     string   `json:"name,omitempty"`
	Email    string   `json:"email,omitempty"`
	// EmailVerified is shown whenever there is an email.
	EmailVerified *bool `json:"email_verified,omitempty"`
	// ManagedBy: as ClientView.ManagedBy.
	ManagedBy string    `json:"managed_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func ViewUser(u *storage.User) UserView {
	v := UserView{ID: u.ID, Username: u.Username, Roles: nonNil(u.Roles), Name: u.Name, Email: u.Email,
		ManagedBy: u.ManagedBy, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	if u.Email != "" {
		verified := u.EmailVerified
		v.EmailVerified = &verified
	}
	return v
}
