package bootstrap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// File is the bootstrap YAML (DESIGN.md §6).
type File struct {
	// Demo marks demonstration data whose secrets and passwords are
	// public, as in the shipped configs/bootstrap.yaml: the server loads
	// such a file only for an issuer on a loopback host
	// (config.CheckDemoBootstrap). The mark travels with a copy of the
	// file, wherever it is put, which its path or content would not.
	Demo    bool     `yaml:"demo"`
	Clients []Client `yaml:"clients"`
	Users   []User   `yaml:"users"`
	// Resources are the resource servers (RFC 8707) the server issues
	// tokens for, besides its built-in ones.
	Resources []account.ResourceRegistration `yaml:"resources"`
	// Scopes describe scopes on the consent page, replacing the built-in
	// texts of a scope of the same name. They are not stored: every
	// instance reads them from its own file.
	Scopes []account.ScopeText `yaml:"scopes"`
}

// ScopeTexts are the built-in scope texts with the file's applied.
func (f *File) ScopeTexts() map[string]account.ScopeText {
	return account.MergeScopeTexts(f.Scopes)
}

// Client is one client as declared in the file; Secret is in clear and is
// hashed before it is stored.
type Client struct {
	account.ClientRegistration `yaml:",inline"`
	Secret                     string `yaml:"secret"`
}

// User is one user as declared in the file; Password is in clear and is
// hashed before it is stored.
type User struct {
	Username string   `yaml:"username"`
	Password string   `yaml:"password"`
	Roles    []string `yaml:"roles"`
	Name     string   `yaml:"name"`
	Email    string   `yaml:"email"`
	// EmailVerified: the operator vouches for Email (OIDC email_verified).
	EmailVerified bool `yaml:"email_verified"`
}

// Load reads and parses a bootstrap file. A missing file is an error that
// wraps fs.ErrNotExist so the caller can decide whether it matters.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return Parse(data, path)
}

// Parse parses a bootstrap document; name is used in error messages.
func Parse(data []byte, name string) (*File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt field must not silently weaken a client
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("bootstrap: %s: %w", name, err)
	}
	return &f, nil
}

// Validate reports every problem in the file at once: each client, user,
// resource and scope text against the policy, duplicate ids, usernames,
// resource ids and scope names, more resources than the registry holds,
// and secrets that contradict the client type.
func (f *File) Validate(p account.Policy) error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range f.Clients {
		if seen[c.ID] {
			errs = append(errs, fmt.Errorf("bootstrap: client %q: id: declared twice", c.ID))
		}
		seen[c.ID] = true
		sc := c.record()
		errs = append(errs, account.ValidateClient(&sc, p)...)
		switch {
		case c.Public && c.Secret != "":
			errs = append(errs, fmt.Errorf("bootstrap: client %q: secret: a public client must not have a secret", c.ID))
		case !sc.HasSecret() && c.Secret != "":
			errs = append(errs, fmt.Errorf("bootstrap: client %q: secret: a private_key_jwt client has no secret (it signs with the keys of jwks or jwks_uri)", c.ID))
		case sc.HasSecret() && c.Secret == "":
			errs = append(errs, fmt.Errorf("bootstrap: client %q: secret: a confidential client needs a secret (or set public: true)", c.ID))
		}
	}
	errs = append(errs, f.validateResources(p)...)
	seen = map[string]bool{}
	for _, sc := range f.Scopes {
		if seen[sc.Name] {
			errs = append(errs, fmt.Errorf("bootstrap: scope %q: name: declared twice", sc.Name))
		}
		seen[sc.Name] = true
		errs = append(errs, account.ValidateScopeText(sc)...)
	}
	seen = map[string]bool{}
	for _, u := range f.Users {
		if seen[u.Username] {
			errs = append(errs, fmt.Errorf("bootstrap: user %q: username: declared twice", u.Username))
		}
		seen[u.Username] = true
		su := u.record()
		errs = append(errs, account.ValidateUser(&su)...)
		var fe *account.FieldError
		if _, _, err := account.CheckBootstrapPassword(u.Password, u.Username, u.Email); errors.As(err, &fe) {
			errs = append(errs, fmt.Errorf("bootstrap: user %q: password: %s", u.Username, fe.Detail))
		}
	}
	return errors.Join(errs...)
}

// PasswordWarnings names each user whose password CheckNewPassword would
// refuse (short of account.MinPasswordLen, common, or the username), for
// the server to log at start: Validate refuses only what no password may
// be (account.CheckBootstrapPassword).
func (f *File) PasswordWarnings() []string {
	var out []string
	for _, u := range f.Users {
		if _, warning, err := account.CheckBootstrapPassword(u.Password, u.Username, u.Email); err == nil && warning != "" {
			out = append(out, fmt.Sprintf("user %q: password %s", u.Username, warning))
		}
	}
	return out
}

func (f *File) validateResources(p account.Policy) []error {
	var errs []error
	if len(f.Resources) > storage.MaxResources {
		errs = append(errs, fmt.Errorf("bootstrap: resources: %d declared, more than the %d the registry holds", len(f.Resources), storage.MaxResources))
	}
	seen := map[string]bool{}
	for _, r := range f.Resources {
		if seen[r.ID] {
			errs = append(errs, fmt.Errorf("bootstrap: resource %q: id: declared twice", r.ID))
		}
		seen[r.ID] = true
		errs = append(errs, account.ValidateResource(resourceRecord(r), p)...)
	}
	return errs
}

// resourceRecord is the resource as stored, the file's.
func resourceRecord(r account.ResourceRegistration) *storage.Resource {
	rec := r.Record()
	rec.ManagedBy = storage.ManagedByBootstrap
	return rec
}

// record is the client as stored, the file's, without its secret hash.
func (c Client) record() storage.Client {
	r := *c.Record()
	r.ManagedBy = storage.ManagedByBootstrap
	return r
}

// record is the user as stored, the file's, without ID or password hash.
func (u User) record() storage.User {
	return storage.User{Username: u.Username, Roles: u.Roles, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified,
		ManagedBy: storage.ManagedByBootstrap}
}
