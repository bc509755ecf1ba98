package main

import (
	"cmp"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An issuer that others reach is refused, exit code 2, with insecure_dev
// or a demo bootstrap file (public passwords: admin/admin-password gets
// scope admin), and the refusal names both settings and the production
// configuration; a Redis URL changes nothing.
func TestDevelopmentSettingsRefusedOnARealIssuer(t *testing.T) {
	const realIssuer = "https://auth.example.com"
	readme := readRepoFile(t, "docs/configuration.md") // before the test leaves the package directory
	checkout := mustAbs(t, "../..")
	demo, err := os.ReadFile(filepath.Join(checkout, "configs", "bootstrap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env, _ := adminEnv(t) // a real Redis: the start must not get as far as using it
	// A copy elsewhere is the same demo file: the mark travels with it.
	copied := filepath.Join(t.TempDir(), "my-bootstrap.yaml")
	writeFile(t, copied, string(demo))
	with := func(kv ...string) map[string]string {
		m := map[string]string{"OAUTH2D_ISSUER": realIssuer, "OAUTH2D_ADDR": freeAddr(t),
			"OAUTH2D_REDIS_URL": env["OAUTH2D_REDIS_URL"], "OAUTH2D_REDIS_PREFIX": env["OAUTH2D_REDIS_PREFIX"]}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name       string
		inCheckout bool // configs/oauth2d.yaml (insecure_dev: true) and configs/bootstrap.yaml apply
		env        map[string]string
		want       []string
	}{
		{"checkout with only the issuer set", true, with(),
			[]string{"config: insecure_dev:", realIssuer, "bootstrap", "configs/oauth2d.production.yaml"}},
		{"checkout without insecure_dev", true, with("OAUTH2D_INSECURE_DEV", "false"),
			[]string{"config: bootstrap: configs/bootstrap.yaml is a demo file", realIssuer, "insecure_dev", "configs/oauth2d.production.yaml"}},
		{"insecure_dev without a bootstrap file", false, with("OAUTH2D_INSECURE_DEV", "true", "OAUTH2D_BOOTSTRAP", ""),
			[]string{"config: insecure_dev:", "bootstrap", "configs/oauth2d.production.yaml"}},
		{"a copy of the demo file", false, with("OAUTH2D_BOOTSTRAP", copied),
			[]string{"config: bootstrap: " + copied + " is a demo file", "insecure_dev", "configs/oauth2d.production.yaml"}},
		{"a copy of the demo file on an IP address", false, with("OAUTH2D_BOOTSTRAP", copied, "OAUTH2D_ISSUER", "https://192.0.2.10"),
			[]string{"config: bootstrap:", "is a demo file", "https://192.0.2.10"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.inCheckout {
				t.Chdir(checkout)
			} else {
				inEmptyDir(t)
			}
			res := runCmd(t, tc.env, "", "serve")
			if code := exitCode(res.err); code != exitUsage {
				t.Fatalf("serve = exit %d (%v), want %d\nstderr: %s", code, res.err, exitUsage, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.err.Error(), w) {
					t.Errorf("error %q does not say %q", res.err, w)
				}
			}
			if tc.inCheckout && tc.env["OAUTH2D_INSECURE_DEV"] == "" && !strings.Contains(readme, "oauth2d: "+res.err.Error()+"\n") {
				t.Errorf("docs/configuration.md does not quote the refusal as it is:\n%s", res.err)
			}
		})
	}
}

// The quick start (a checkout, the development configuration and the
// demo file, a loopback issuer) still starts, on any loopback form.
func TestDemoStartsOnALoopbackIssuer(t *testing.T) {
	checkout := mustAbs(t, "../..")
	for _, issuer := range []string{"", "http://127.0.0.1:8080", "https://[::1]:8443"} {
		t.Run(cmp.Or(issuer, "the file's http://localhost:8080"), func(t *testing.T) {
			env, st := adminEnv(t)
			t.Chdir(checkout)
			env["OAUTH2D_KEYS_ID_TOKEN_ALGORITHM"] = "ES256" // skip RSA key generation: it is slow under -race
			env["OAUTH2D_ISSUER"] = issuer
			_, logs, stop := serveUntilReady(t, env)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), "insecure_dev=true") {
				t.Errorf("not started with the development configuration:\n%s", logs)
			}
			if _, err := st.GetUserByUsername(t.Context(), "admin"); err != nil {
				t.Errorf("the demo users were not loaded: %v", err)
			}
		})
	}
}

// An issuer that others reach starts with the production configuration
// and a bootstrap file of one's own.
func TestProductionConfigStartsOnARealIssuer(t *testing.T) {
	production := mustAbs(t, "../../configs/oauth2d.production.yaml")
	env, st := adminEnv(t)
	own := filepath.Join(t.TempDir(), "bootstrap.yaml")
	writeFile(t, own, "clients:\n  - id: billing\n    secret: billing-secret-0123456789\n    grant_types: [client_credentials]\n    scopes: [comments:read]\n")
	env["OAUTH2D_CONFIG"] = production
	env["OAUTH2D_ISSUER"] = "https://auth.example.com"
	env["OAUTH2D_BOOTSTRAP"] = own
	env["OAUTH2D_KEY_ENCRYPTION_KEY"] = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("p", 32)))
	env["OAUTH2D_KEYS_ID_TOKEN_ALGORITHM"] = "ES256"
	_, _, stop := serveUntilReady(t, env)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetClient(t.Context(), "billing"); err != nil {
		t.Errorf("the own bootstrap file was not applied: %v", err)
	}
}
