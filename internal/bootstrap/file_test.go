package bootstrap

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/config"
)

func TestFileValidate(t *testing.T) {
	doc := `
clients:
  - id: pub
    public: true
    secret: oops
    redirect_uris: [https://a.example/cb]
    grant_types: [authorization_code]
  - id: conf
    redirect_uris: [https://a.example/cb]
    client_uri: https://a.example/#home
    grant_types: [authorization_code]
  - id: conf
    secret: s3cret-s3cret
    grant_types: [client_credentials, implicit]
users:
  - username: alice
    password: short
  - username: alice
    password: long-enough
scopes:
  - name: reports read
    title: Read reports
  - name: reports:read
  - name: reports:read
    title: Read your reports
`
	f, err := Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = f.Validate(account.Policy{})
	if err == nil {
		t.Fatal("Validate accepted a bad file")
	}
	for _, want := range []string{
		`client "pub": secret: a public client must not have a secret`,
		`client "conf": secret: a confidential client needs a secret`,
		`client "conf": id: declared twice`,
		`client "conf": client_uri: "https://a.example/#home" must not have a fragment`,
		`client "conf": grant_types: unknown grant type "implicit"`,
		`user "alice": password: must be at least 8`,
		`user "alice": username: declared twice`,
		`scope "reports read": name: must be 1-128 characters of a scope token`,
		`scope "reports:read": title: must not be empty`,
		`scope "reports:read": name: declared twice`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors do not mention %q:\n%v", want, err)
		}
	}
}

func TestParseRejectsUnknownFields(t *testing.T) {
	_, err := Parse([]byte("clients:\n  - id: a\n    redirect_uri: [https://a.example]\n"), "x.yaml")
	if err == nil || !strings.Contains(err.Error(), "redirect_uri") {
		t.Fatalf("Parse = %v, want an error about redirect_uri", err)
	}
}

func TestShippedFileIsValid(t *testing.T) {
	f, err := Load("../../configs/bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(account.Policy{}); err != nil {
		t.Fatalf("configs/bootstrap.yaml: %v", err)
	}
	if len(f.Clients) < 4 || len(f.Users) < 2 {
		t.Fatalf("configs/bootstrap.yaml has %d clients and %d users, want the demo set", len(f.Clients), len(f.Users))
	}
	if !f.Demo {
		t.Fatal("configs/bootstrap.yaml is not marked demo: true, so it would load on a real issuer")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/no/such/bootstrap.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load = %v, want fs.ErrNotExist", err)
	}
}

func TestScopeTexts(t *testing.T) {
	doc := `
scopes:
  - name: reports:read
    title: Read your reports
    description: See the monthly sales reports of your team.
  - name: email
    title: See your work email address
`
	f, err := Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(account.Policy{}); err != nil {
		t.Fatal(err)
	}
	texts := f.ScopeTexts()
	if got := texts["reports:read"]; got.Title != "Read your reports" || got.Description != "See the monthly sales reports of your team." {
		t.Errorf("reports:read = %+v", got)
	}
	if got := texts["email"]; got.Title != "See your work email address" || got.Description != "" {
		t.Errorf("email = %+v, want the file's text in place of the built-in one", got)
	}
	for _, name := range []string{"openid", "profile", "email", "offline_access", "comments:read", "comments:write", "admin"} {
		if texts[name].Title == "" {
			t.Errorf("built-in scope %s has no title", name)
		}
	}
}

// The file is validated with the configuration's registration policy: an
// internal backchannel_logout_uri is refused unless outbound.allow_internal
// lists it.
func TestFileValidateBackchannelDestination(t *testing.T) {
	f, err := Parse([]byte(`
clients:
  - id: app
    secret: app-secret-0123456789
    grant_types: [client_credentials]
    backchannel_logout_uri: https://10.1.2.3/logout
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = f.Validate(account.Policy{})
	if err == nil || !strings.Contains(err.Error(), `client "app": backchannel_logout_uri: "https://10.1.2.3/logout" points at 10.1.2.3 (private)`) ||
		!strings.Contains(err.Error(), "outbound.allow_internal") {
		t.Fatalf("Validate: %v", err)
	}
	cfg := config.Default()
	cfg.Outbound.AllowInternal = []string{"10.1.0.0/16"}
	policy, err := account.PolicyOf(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(policy); err != nil {
		t.Fatalf("allowed by outbound.allow_internal: %v", err)
	}
}
