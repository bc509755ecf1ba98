package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// client create --token-endpoint-auth-method private_key_jwt registers a
// client with the keys of --jwks-file (or a --jwks-uri) and prints no
// secret; a private key in the file is a usage error naming jwks.
func TestClientCreatePrivateKeyJWT(t *testing.T) {
	env, st := adminEnv(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(good, []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"a"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, env, "", "client", "create", "--id", "job", "--grant-type", "client_credentials",
		"--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", good)
	if strings.Contains(strings.ToLower(out), "secret:") {
		t.Fatalf("a secret was printed for a private_key_jwt client:\n%s", out)
	}
	c, err := st.GetClient(context.Background(), "job")
	if err != nil || c.SecretHash != "" || c.AuthMethod() != "private_key_jwt" || !strings.Contains(c.JWKS, `"kid":"a"`) {
		t.Fatalf("client = %+v, %v", c, err)
	}
	if out := mustRun(t, env, "", "client", "get", "job"); !strings.Contains(out, "private_key_jwt") {
		t.Fatalf("client get does not show the method:\n%s", out)
	}
	private := filepath.Join(dir, "private.json")
	if err := os.WriteFile(private, []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runCmd(t, env, "", "client", "create", "--id", "job2", "--grant-type", "client_credentials",
		"--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", private)
	if exitCode(res.err) != 2 || !strings.Contains(res.err.Error(), "jwks") {
		t.Fatalf("a private key: %v, want exit 2 naming jwks", res.err)
	}
}
