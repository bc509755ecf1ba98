package account

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"gopkg.in/yaml.v3"

	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/storage"
)

func jwksOf(t *testing.T, keys ...jose.JSONWebKey) string {
	t.Helper()
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestValidateClientPrivateKeyJWT: a private_key_jwt client has public
// asymmetric keys (inline or at an https jwks_uri the guard allows) and
// no secret; the method agrees with public; keys go with the method.
func TestValidateClientPrivateKeyJWT(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	good := jwksOf(t, jose.JSONWebKey{Key: ec.Public(), KeyID: "ec"}, jose.JSONWebKey{Key: edPub, KeyID: "ed", Algorithm: "EdDSA"})
	cfg := config.Default()
	strict, err := PolicyOf(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	pk := func(edit func(c *storage.Client)) *storage.Client {
		c := validClient()
		c.TokenEndpointAuthMethod, c.JWKS, c.SecretHash = storage.AuthMethodPrivateKeyJWT, good, ""
		if edit != nil {
			edit(&c)
		}
		return &c
	}
	for _, tc := range []struct {
		name  string
		c     *storage.Client
		field string // "": valid
		why   string
	}{
		{"inline keys", pk(nil), "", ""},
		{"jwks_uri", pk(func(c *storage.Client) { c.JWKS, c.JWKSURI = "", "https://keys.example/jwks.json" }), "", ""},
		{"secret client, no method", func() *storage.Client { c := validClient(); return &c }(), "", ""},
		{"explicit client_secret_post", func() *storage.Client {
			c := validClient()
			c.TokenEndpointAuthMethod = storage.AuthMethodSecretPost
			return &c
		}(), "", ""},
		{"unknown method", pk(func(c *storage.Client) { c.TokenEndpointAuthMethod = "client_secret_jwt" }), "token_endpoint_auth_method", "unknown"},
		{"with a secret", pk(func(c *storage.Client) { c.SecretHash = "$argon2id$x" }), "token_endpoint_auth_method", "no secret"},
		{"no keys", pk(func(c *storage.Client) { c.JWKS = "" }), "jwks", "jwks or jwks_uri"},
		{"both", pk(func(c *storage.Client) { c.JWKSURI = "https://keys.example/jwks.json" }), "jwks", "not both"},
		{"private key", pk(func(c *storage.Client) { c.JWKS = jwksOf(t, jose.JSONWebKey{Key: ec, KeyID: "ec"}) }), "jwks", "private"},
		{"symmetric key", pk(func(c *storage.Client) {
			c.JWKS = jwksOf(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "s"})
		}), "jwks", "symmetric"},
		{"RSA 1024", pk(func(c *storage.Client) { c.JWKS = jwksOf(t, jose.JSONWebKey{Key: smallRSA.Public(), KeyID: "r"}) }), "jwks", "1024 bits"},
		{"P-521", pk(func(c *storage.Client) { c.JWKS = jwksOf(t, jose.JSONWebKey{Key: p521.Public(), KeyID: "p"}) }), "jwks", "P-256 or P-384"},
		{"alg that does not fit", pk(func(c *storage.Client) {
			c.JWKS = jwksOf(t, jose.JSONWebKey{Key: ec.Public(), KeyID: "ec", Algorithm: "RS256"})
		}), "jwks", "alg"},
		{"encryption key", pk(func(c *storage.Client) {
			c.JWKS = jwksOf(t, jose.JSONWebKey{Key: ec.Public(), KeyID: "ec", Use: "enc"})
		}), "jwks", "signing"},
		{"duplicate kid", pk(func(c *storage.Client) {
			c.JWKS = jwksOf(t, jose.JSONWebKey{Key: ec.Public(), KeyID: "k"}, jose.JSONWebKey{Key: edPub, KeyID: "k"})
		}), "jwks", "twice"},
		{"too large", pk(func(c *storage.Client) { c.JWKS = `{"keys":[],"x":"` + strings.Repeat("x", 40<<10) + `"}` }), "jwks", "bytes"},
		{"not a set", pk(func(c *storage.Client) { c.JWKS = `[1,2]` }), "jwks", "keys"},
		{"http jwks_uri", pk(func(c *storage.Client) { c.JWKS, c.JWKSURI = "", "http://keys.example/jwks.json" }), "jwks_uri", "https"},
		{"internal jwks_uri", pk(func(c *storage.Client) { c.JWKS, c.JWKSURI = "", "https://169.254.169.254/jwks" }), "jwks_uri", "link-local"},
		{"keys for a secret client", func() *storage.Client { c := validClient(); c.JWKS = good; return &c }(), "jwks", "private_key_jwt only"},
		{"none for a confidential client", func() *storage.Client {
			c := validClient()
			c.TokenEndpointAuthMethod = storage.AuthMethodNone
			return &c
		}(), "token_endpoint_auth_method", "public"},
		{"public with private_key_jwt", pk(func(c *storage.Client) { c.Public = true; c.GrantTypes = []string{"authorization_code"} }), "token_endpoint_auth_method", "public client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateClient(tc.c, strict)
			if tc.field == "" {
				if len(errs) > 0 {
					t.Fatalf("refused: %v", errors.Join(errs...))
				}
				return
			}
			for _, err := range errs {
				var fe *FieldError
				if errors.As(err, &fe) && fe.Field == tc.field && strings.Contains(fe.Detail, tc.why) {
					return
				}
			}
			t.Fatalf("got %v, want a %s error saying %q", errors.Join(errs...), tc.field, tc.why)
		})
	}
}

// jwks reads as a mapping in the bootstrap file (YAML) and as an object
// in the admin API (JSON), and survives the stored record both ways.
func TestRegistrationJWKS(t *testing.T) {
	var fromYAML, fromJSON ClientRegistration
	yml := "id: svc\ntoken_endpoint_auth_method: private_key_jwt\njwks:\n  keys:\n    - kty: OKP\n      crv: Ed25519\n      x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\n      kid: a\n"
	if err := yaml.Unmarshal([]byte(yml), &fromYAML); err != nil {
		t.Fatal(err)
	}
	js := `{"id":"svc","token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}}`
	if err := json.Unmarshal([]byte(js), &fromJSON); err != nil {
		t.Fatal(err)
	}
	for _, r := range []ClientRegistration{fromYAML, fromJSON} {
		rec := r.Record()
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(rec.JWKS), &set); err != nil || len(set.Keys) != 1 || set.Keys[0].KeyID != "a" {
			t.Fatalf("Record of %+v: jwks %q (%v)", r, rec.JWKS, err)
		}
		if rec.AuthMethod() != storage.AuthMethodPrivateKeyJWT || rec.HasSecret() {
			t.Fatalf("Record of %+v: method %q, has secret %v", r, rec.AuthMethod(), rec.HasSecret())
		}
		if back := RegistrationOf(rec); !reflect.DeepEqual(back, r) {
			t.Fatalf("RegistrationOf(Record()) = %+v, want %+v", back, r)
		}
	}
	out, err := json.Marshal(fromYAML)
	if err != nil || !strings.Contains(string(out), `"jwks":{"keys":[`) {
		t.Fatalf("the admin API would show %s (%v)", out, err)
	}
}
