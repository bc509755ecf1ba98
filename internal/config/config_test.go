package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultsAreValid(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Tokens.IDTokenTTL != c.Tokens.AccessTTL {
		t.Errorf("id_token_ttl = %v, want access_ttl %v", c.Tokens.IDTokenTTL, c.Tokens.AccessTTL)
	}
	if got := strings.Join(c.Tokens.Audience, ","); got != "http://localhost:8080/api" {
		t.Errorf("audience = %q, want issuer + /api", got)
	}
}

func TestLoadLayers(t *testing.T) {
	file := writeFile(t, "oauth2d.yaml", `
addr: 127.0.0.1:9999
issuer: https://file.example
insecure_dev: true
redis:
  prefix: "file:"
tokens:
  access_ttl: 5m
  audience: [https://api.example]
log:
  level: debug
`)
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "file over defaults",
			args: []string{"--config", file},
			check: func(t *testing.T, c *Config) {
				want(t, "addr", c.Addr, "127.0.0.1:9999")
				want(t, "issuer", c.Issuer, "https://file.example")
				want(t, "insecure_dev", c.InsecureDev, true)
				want(t, "redis.prefix", c.Redis.Prefix, "file:")
				want(t, "tokens.access_ttl", c.Tokens.AccessTTL, 5*time.Minute)
				want(t, "tokens.id_token_ttl", c.Tokens.IDTokenTTL, 5*time.Minute)
				want(t, "tokens.refresh_sliding_ttl", c.Tokens.RefreshSlidingTTL, 336*time.Hour)
				want(t, "tokens.audience", strings.Join(c.Tokens.Audience, ","), "https://api.example")
				want(t, "log.level", c.Log.Level, "debug")
			},
		},
		{
			name: "env over file",
			args: []string{"--config", file},
			env: map[string]string{
				"OAUTH2D_ADDR":                     "127.0.0.1:7777",
				"OAUTH2D_REDIS_URL":                "redis://127.0.0.1:6379/2",
				"OAUTH2D_REDIS_PREFIX":             "env:",
				"OAUTH2D_BOOTSTRAP":                "",
				"OAUTH2D_TOKENS_ACCESS_TTL":        "1m",
				"OAUTH2D_TOKENS_AUDIENCE":          "https://a.example, https://b.example",
				"OAUTH2D_INSECURE_DEV":             "false",
				"OAUTH2D_RATE_LIMIT_LOGIN_PER_IP":  "42",
				"OAUTH2D_HTTP_MAX_BODY_BYTES":      "2048",
				"OAUTH2D_KEY_ENCRYPTION_KEY":       "from-env",
				"OAUTH2D_KEYS_ENCRYPTION_KEY_FILE": "/does/not/matter",
			},
			check: func(t *testing.T, c *Config) {
				want(t, "addr", c.Addr, "127.0.0.1:7777")
				want(t, "redis.url", c.Redis.URL, "redis://127.0.0.1:6379/2")
				want(t, "redis.prefix", c.Redis.Prefix, "env:")
				want(t, "bootstrap (empty env is unset)", c.Bootstrap, DefaultBootstrap)
				want(t, "tokens.access_ttl", c.Tokens.AccessTTL, time.Minute)
				want(t, "tokens.audience", strings.Join(c.Tokens.Audience, ","), "https://a.example,https://b.example")
				want(t, "insecure_dev", c.InsecureDev, false)
				want(t, "rate_limit.login_per_ip", c.RateLimit.LoginPerIP, 42)
				want(t, "http.max_body_bytes", c.HTTP.MaxBodyBytes, int64(2048))
				want(t, "keys.encryption_key", c.Keys.EncryptionKey, "from-env")
			},
		},
		{
			name: "flags over env",
			args: []string{"--config", file, "--addr", "127.0.0.1:1", "--insecure-dev=false", "--tokens-code-ttl", "30s"},
			env:  map[string]string{"OAUTH2D_ADDR": "127.0.0.1:7777", "OAUTH2D_TOKENS_CODE_TTL": "45s"},
			check: func(t *testing.T, c *Config) {
				want(t, "addr", c.Addr, "127.0.0.1:1")
				want(t, "insecure_dev", c.InsecureDev, false)
				want(t, "tokens.code_ttl", c.Tokens.CodeTTL, 30*time.Second)
			},
		},
		{
			name: "config path from env",
			env:  map[string]string{ConfigEnv: file},
			check: func(t *testing.T, c *Config) {
				want(t, "issuer", c.Issuer, "https://file.example")
			},
		},
		{
			name: "missing default file is fine",
			check: func(t *testing.T, c *Config) {
				want(t, "addr", c.Addr, "127.0.0.1:8080")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir()) // no configs/oauth2d.yaml here
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fl := BindFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c, err := Load(fl, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		wantErr []string
	}{
		{
			name:    "missing explicit file",
			args:    []string{"--config", "/no/such/oauth2d.yaml"},
			wantErr: []string{"config: config file:", "/no/such/oauth2d.yaml"},
		},
		{
			name:    "missing file named by env",
			env:     map[string]string{ConfigEnv: "/no/such/file.yaml"},
			wantErr: []string{"/no/such/file.yaml"},
		},
		{
			name:    "unknown setting in file",
			file:    "adr: 127.0.0.1:1\n",
			wantErr: []string{"field adr not found"},
		},
		{
			name:    "integer duration in file",
			file:    "tokens:\n  access_ttl: 900\n",
			wantErr: []string{"line 2", "into time.Duration"},
		},
		{
			name:    "secret in file is refused",
			file:    "keys:\n  encryption_key: hunter2\n",
			wantErr: []string{"field encryption_key not found"},
		},
		{
			name: "bad env values all reported",
			env: map[string]string{
				"OAUTH2D_TOKENS_ACCESS_TTL":             "fifteen minutes",
				"OAUTH2D_INSECURE_DEV":                  "yes please",
				"OAUTH2D_RATE_LIMIT_LOGIN_PER_USERNAME": "many",
			},
			wantErr: []string{"OAUTH2D_TOKENS_ACCESS_TTL", "OAUTH2D_INSECURE_DEV", "OAUTH2D_RATE_LIMIT_LOGIN_PER_USERNAME"},
		},
		{
			name:    "bad flag value names the flag",
			args:    []string{"--http-shutdown-timeout", "soon"},
			wantErr: []string{"--http-shutdown-timeout", `"soon" is not a duration`},
		},
		{
			name:    "old name of insecure_dev in file",
			file:    "addr: 127.0.0.1:1\ndev: true\n",
			wantErr: []string{"line 2: dev: renamed to insecure_dev"},
		},
		{
			name:    "old name of insecure_dev in env",
			env:     map[string]string{"OAUTH2D_DEV": "true"},
			wantErr: []string{"config: OAUTH2D_DEV: renamed to OAUTH2D_INSECURE_DEV"},
		},
		{
			name:    "missing encryption key file",
			env:     map[string]string{"OAUTH2D_KEYS_ENCRYPTION_KEY_FILE": "/no/such/key"},
			wantErr: []string{"keys.encryption_key_file"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			args := tc.args
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, "c.yaml", tc.file))
			}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fl := BindFlags(fs)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			_, err := Load(fl, env(tc.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEncryptionKeyFromFile(t *testing.T) {
	keyFile := writeFile(t, "kek", "  secret-from-file\n")
	c, err := Load(nil, env(map[string]string{"OAUTH2D_KEYS_ENCRYPTION_KEY_FILE": keyFile}))
	if err != nil {
		t.Fatal(err)
	}
	want(t, "keys.encryption_key", c.Keys.EncryptionKey, "secret-from-file")
}

func TestBindFlagsPrefixes(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	BindFlags(fs, "redis.", "insecure_dev")
	var got []string
	fs.VisitAll(func(f *flag.Flag) { got = append(got, f.Name) })
	want(t, "flags", strings.Join(got, " "), "config insecure-dev redis-allow-embedded redis-min-replicas-ack redis-prefix redis-timeout redis-url")
}

func TestShippedConfigsAreValid(t *testing.T) {
	containerEnv := map[string]string{
		"OAUTH2D_ISSUER": "https://auth.example.com", "OAUTH2D_REDIS_URL": "redis://redis:6379/0",
		EncryptionKeyEnv: "set-by-the-operator",
	}
	tests := []struct {
		file          string
		env           map[string]string
		wantDev       bool
		wantBootstrap string
	}{
		{"../../configs/oauth2d.yaml", nil, true, DefaultBootstrap},
		{"../../configs/oauth2d.production.yaml", map[string]string{EncryptionKeyEnv: "set-by-the-operator"}, false, ""},
		{"../../configs/oauth2d.container.yaml", containerEnv, false, ""},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			c := loadFileForTest(t, tc.file, tc.env)
			if err := c.Validate(); err != nil {
				t.Fatalf("%s does not validate: %v", tc.file, err)
			}
			want(t, "insecure_dev", c.InsecureDev, tc.wantDev)
			want(t, "bootstrap", c.Bootstrap, tc.wantBootstrap)
		})
	}
}

// The Docker image must not fall back to demo behaviour: without an
// issuer, a Redis and a key encryption key it refuses to start, naming
// each, and it logs JSON.
func TestContainerConfigRequiresProductionSettings(t *testing.T) {
	c := loadFileForTest(t, "../../configs/oauth2d.container.yaml", nil)
	want(t, "log.format", c.Log.Format, "json")
	err := c.Validate()
	if err == nil {
		t.Fatal("the container configuration validates without an issuer, a Redis or a key")
	}
	for _, w := range []string{"config: issuer: must be set (OAUTH2D_ISSUER)", "config: redis.url: must be set (OAUTH2D_REDIS_URL)", "config: keys.encryption_key: must be set"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "tokens.audience") {
		t.Errorf("error %q blames the audience derived from the missing issuer", err)
	}
}

func loadFileForTest(t *testing.T, file string, env map[string]string) *Config {
	t.Helper()
	c, err := Load(&Flags{path: file}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The configuration reference (docs/configuration.md) is what users
// read: it must name every setting and its variable; the README keeps
// the two commands a newcomer needs.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	reference, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range SettingNames() {
		for _, want := range []string{"`" + name + "`", "`" + EnvName(name) + "`"} {
			if !strings.Contains(string(reference), want) {
				t.Errorf("docs/configuration.md does not mention %s", want)
			}
		}
	}
	for _, want := range []string{EncryptionKeyEnv, ConfigEnv} {
		if !strings.Contains(string(reference), want) {
			t.Errorf("docs/configuration.md does not mention %s", want)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go run ./cmd/oauth2d", "scripts/test"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not mention %s", want)
		}
	}
}

// The help of a flag must not present the built-in value as the value in
// effect: the config file may set another (configs/oauth2d.yaml sets
// insecure_dev: true).
func TestFlagHelpNamesWhereValuesComeFrom(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	BindFlags(fs, "insecure_dev")
	usage := fs.Lookup("insecure-dev").Usage
	for _, want := range []string{"INSECURE", "$OAUTH2D_INSECURE_DEV", "config file", `built-in "false"`} {
		if !strings.Contains(usage, want) {
			t.Errorf("--insecure-dev help %q does not mention %s", usage, want)
		}
	}
	if strings.Contains(usage, "default") {
		t.Errorf("--insecure-dev help %q calls the built-in value the default", usage)
	}
}
