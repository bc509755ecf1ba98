package bootstrap

import (
	"context"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/storage"
)

const pkjwtDoc = `
clients:
  - id: reports-job
    token_endpoint_auth_method: private_key_jwt
    jwks:
      keys:
        - {kty: OKP, crv: Ed25519, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo, kid: reports-2026}
    grant_types: [client_credentials]
    scopes: [comments:read]
`

// A private_key_jwt client of the file is stored with its keys and no
// secret, and applying the same file again changes nothing; one with a
// secret, or a confidential client with neither secret nor keys, is
// refused.
func TestApplyPrivateKeyJWTClient(t *testing.T) {
	st := openStore(t)
	a := newTestApplier(st)
	mustApply(t, a, pkjwtDoc)
	c, err := st.GetClient(context.Background(), "reports-job")
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthMethod() != storage.AuthMethodPrivateKeyJWT || c.SecretHash != "" || !strings.Contains(c.JWKS, `"kid":"reports-2026"`) {
		t.Fatalf("stored %+v", c)
	}
	before := c.UpdatedAt
	mustApply(t, a, pkjwtDoc)
	if c, _ := st.GetClient(context.Background(), "reports-job"); !c.UpdatedAt.Equal(before) {
		t.Fatal("applying the same file again rewrote the client")
	}
	for name, doc := range map[string]string{
		"with a secret": strings.Replace(pkjwtDoc, "    grant_types:", "    secret: a-secret-0123456789\n    grant_types:", 1),
		"without keys":  strings.Replace(pkjwtDoc, "    token_endpoint_auth_method: private_key_jwt\n", "", 1),
	} {
		f, err := Parse([]byte(doc), "test")
		if err == nil {
			err = f.Validate(account.Policy{})
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
