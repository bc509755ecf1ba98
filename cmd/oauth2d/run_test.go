package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/testredis"
)

func TestMain(m *testing.M) { testredis.Main(m) }

// syncBuffer is a bytes.Buffer safe to write from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	stdout, stderr string
	err            error
}

// runCmd calls run as main would, with env as the whole environment.
func runCmd(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(stdin), &stdout, &stderr)
	return result{stdout.String(), stderr.String(), err}
}

// inEmptyDir runs the test where no configs/ directory exists, so only
// the defaults and the test's own environment apply.
func inEmptyDir(t *testing.T) { t.Chdir(t.TempDir()) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestExitCodes(t *testing.T) {
	inEmptyDir(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	badBootstrap := t.TempDir() + "/bootstrap.yaml"
	writeFile(t, badBootstrap, "clients:\n  - id: x\n    grant_types: [implicit]\n")
	internalLogout := t.TempDir() + "/bootstrap.yaml"
	writeFile(t, internalLogout, "clients:\n  - id: x\n    secret: x-secret-0123456789\n    grant_types: [client_credentials]\n    backchannel_logout_uri: https://169.254.169.254/\n")
	internalBCL := []string{"client", "create", "--grant-type", "client_credentials", "--backchannel-logout-uri", "http://127.0.0.1:6379/"}

	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		stdin    string
		wantCode int
		wantMsg  string // in the error
	}{
		{"help", []string{"help"}, nil, "", 0, ""},
		{"serve -h", []string{"serve", "-h"}, nil, "", 0, ""},
		{"client create -h", []string{"client", "create", "-h"}, nil, "", 0, ""},
		{"unknown command", []string{"frobnicate"}, nil, "", 2, `unknown command "frobnicate"`},
		{"missing subcommand", []string{"client"}, nil, "", 2, "client: missing subcommand"},
		{"unknown subcommand", []string{"user", "rename"}, nil, "", 2, `user: unknown subcommand "rename"`},
		{"unknown flag", []string{"serve", "--bogus"}, nil, "", 2, "flag provided but not defined: -bogus"},
		{"flag without value", []string{"client", "create", "--redirect-uri"}, nil, "", 2, "flag needs an argument"},
		{"stray argument", []string{"serve", "extra"}, nil, "", 2, `unexpected argument "extra"`},
		{"too many arguments", []string{"user", "delete", "a", "b"}, nil, "", 2, `unexpected argument "b"`},
		{"non-loopback http issuer", []string{"--issuer", "http://auth.example.com"}, nil, "", 2, "config: issuer: must be https"},
		{"bad env value", []string{"serve"}, map[string]string{"OAUTH2D_TOKENS_ACCESS_TTL": "soon"}, "", 2, "OAUTH2D_TOKENS_ACCESS_TTL"},
		{"every bad setting at once", []string{"serve", "--addr", "nope", "--log-format", "xml"}, nil, "", 2, "config: log.format"},
		{"missing config file", []string{"serve", "--config", "/no/such.yaml"}, nil, "", 2, "/no/such.yaml"},
		{"bad encryption key", []string{"serve"}, map[string]string{"OAUTH2D_KEYS_SOURCE": "redis", "OAUTH2D_KEY_ENCRYPTION_KEY": "short"}, "", 2, "config: keys.encryption_key"},
		{"missing named bootstrap", []string{"serve"}, map[string]string{"OAUTH2D_BOOTSTRAP": "/no/such/bootstrap.yaml", "OAUTH2D_ADDR": "127.0.0.1:0"}, "", 2, "config: bootstrap"},
		{"invalid bootstrap", []string{"serve"}, map[string]string{"OAUTH2D_BOOTSTRAP": badBootstrap, "OAUTH2D_ADDR": "127.0.0.1:0"}, "", 2, `unknown grant type "implicit"`},
		{"port taken", []string{"serve"}, map[string]string{"OAUTH2D_ADDR": taken.Addr().String(), "OAUTH2D_BOOTSTRAP": ""}, "", 1, "(addr)"},
		{"redis unreachable", []string{"serve"}, map[string]string{"OAUTH2D_REDIS_URL": "redis://127.0.0.1:1/0"}, "", 1, "does not answer"},
		{"admin without redis", []string{"client", "list"}, nil, "", 2, "redis.url is empty"},
		{"admin without redis names the admin API", []string{"user", "list"}, nil, "", 2, "/admin/v1/users"},
		{"admin without redis names the bootstrap file", []string{"client", "create", "--grant-type", "client_credentials"}, nil, "", 2, "bootstrap file (OAUTH2D_BOOTSTRAP) and restart"},
		{"keys without redis source", []string{"keys", "list"}, nil, "", 2, `keys.source is "generate"`},
		{"client get without id", []string{"client", "get"}, nil, "", 2, "missing client id"},
		{"client id twice", []string{"client", "delete", "--id", "a", "b"}, nil, "", 2, "give the client id once"},
		{"unknown grant type", []string{"client", "create", "--grant-type", "implicit", "--redirect-uri", "https://a.example/cb"}, nil, "", 2, `grant_types: unknown grant type "implicit"`},
		{"public with secret", []string{"client", "create", "--public", "--secret-stdin"}, nil, "", 2, "a public client has no secret"},
		{"internal backchannel logout uri", internalBCL, nil, "", 2, "backchannel_logout_uri: \"http://127.0.0.1:6379/\" points at 127.0.0.1 (loopback)"},
		// Allowed, it gets as far as the missing Redis.
		{"allowed internal backchannel logout uri", append(internalBCL, "--outbound-allow-internal", "127.0.0.1"), nil, "", 2, "redis.url is empty"},
		{"bootstrap with internal backchannel logout uri", []string{"serve"}, map[string]string{"OAUTH2D_BOOTSTRAP": internalLogout, "OAUTH2D_ADDR": "127.0.0.1:0"}, "", 2,
			"outbound.allow_internal"},
		{"short piped secret", []string{"client", "create", "--secret-stdin", "--grant-type", "client_credentials", "--redis-url", "redis://127.0.0.1:1"}, nil, "short\n", 2, "at least 16"},
		{"user without username", []string{"user", "create"}, nil, "pw-long-enough\n", 2, "--username is required"},
		{"user without password", []string{"user", "create", "--username", "carol"}, nil, "", 2, "password: expected on stdin"},
		{"user with short password", []string{"user", "create", "--username", "carol"}, nil, "short\n", 2, "at least 8"},
		{"user with bad role", []string{"user", "create", "--username", "carol", "--role", "Root!"}, nil, "pw-long-enough\n", 2, "roles:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(t, tc.env, tc.stdin, tc.args...)
			if got := exitCode(res.err); got != tc.wantCode {
				t.Fatalf("exit code = %d (err %v), want %d", got, res.err, tc.wantCode)
			}
			if tc.wantMsg != "" && (res.err == nil || !strings.Contains(res.err.Error(), tc.wantMsg)) {
				t.Fatalf("error = %v, want it to contain %q", res.err, tc.wantMsg)
			}
		})
	}
}

// A busy port ends serve before anything runs in the background, so the
// only thing said is why it stopped: no error from a subscription or cache
// torn down on the way out.
func TestPortTakenSaysOnlyWhy(t *testing.T) {
	inEmptyDir(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	res := runCmd(t, map[string]string{"OAUTH2D_ADDR": taken.Addr().String(), "OAUTH2D_BOOTSTRAP": ""}, "", "serve")
	if exitCode(res.err) != 1 || !strings.Contains(res.err.Error(), "(addr)") {
		t.Fatalf("serve on a busy port = %v, want exit 1 naming addr", res.err)
	}
	for _, line := range strings.Split(res.stderr, "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("serve logged an error on its way out: %s", line)
		}
	}
}

func TestEveryBadSettingReportedAtOnce(t *testing.T) {
	inEmptyDir(t)
	res := runCmd(t, map[string]string{"OAUTH2D_ISSUER": "http://auth.example.com"}, "", "serve", "--addr", "nope", "--log-format", "xml")
	for _, setting := range []string{"config: issuer:", "config: addr:", "config: log.format:"} {
		if res.err == nil || !strings.Contains(res.err.Error(), setting) {
			t.Errorf("error %v does not name %q", res.err, setting)
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	res := runCmd(t, nil, "", "help")
	for _, cmd := range []string{"serve", "client create", "user create", "keys list"} {
		if !strings.Contains(res.stdout, cmd) {
			t.Errorf("help does not mention %q:\n%s", cmd, res.stdout)
		}
	}
}

// Flags may follow positional arguments, as the README writes them
// (`oauth2d client get my-app --json`); "--" still ends the flags.
func TestParseFlagsAnywhere(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		maxArgs   int
		wantJSON  bool
		wantName  string
		wantArgs  []string
		wantError string // "" = no error
	}{
		{name: "flags first", args: []string{"--json", "--name", "n", "my-app"}, maxArgs: 1, wantJSON: true, wantName: "n", wantArgs: []string{"my-app"}},
		{name: "flags after the argument", args: []string{"my-app", "--json", "--name", "n"}, maxArgs: 1, wantJSON: true, wantName: "n", wantArgs: []string{"my-app"}},
		{name: "flags around the argument", args: []string{"-name=n", "my-app", "-json"}, maxArgs: 1, wantJSON: true, wantName: "n", wantArgs: []string{"my-app"}},
		{name: "bool flag with value", args: []string{"my-app", "--json=false"}, maxArgs: 1, wantArgs: []string{"my-app"}},
		{name: "value that looks like a flag", args: []string{"--name", "--json"}, wantName: "--json"},
		{name: "value that is a double dash", args: []string{"--name", "--", "--json"}, wantJSON: true, wantName: "--"},
		{name: "double dash ends the flags", args: []string{"--", "--json"}, maxArgs: 1, wantArgs: []string{"--json"}},
		{name: "single dash is an argument", args: []string{"-", "--json"}, maxArgs: 1, wantJSON: true, wantArgs: []string{"-"}},
		{name: "no arguments", args: nil},
		{name: "too many arguments", args: []string{"a", "--json", "b"}, maxArgs: 1, wantError: `unexpected argument "b"`},
		{name: "argument where none is allowed", args: []string{"extra", "--json"}, wantError: `unexpected argument "extra"`},
		{name: "unknown flag after an argument", args: []string{"my-app", "--bogus"}, maxArgs: 1, wantError: "flag provided but not defined: -bogus"},
		{name: "missing value at the end", args: []string{"my-app", "--name"}, maxArgs: 1, wantError: "flag needs an argument: -name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlagSet(env{stderr: io.Discard}, "test")
			asJSON := fs.Bool("json", false, "")
			name := fs.String("name", "", "")
			err := parseFlags(fs, tc.args, tc.maxArgs)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) || exitCode(err) != exitUsage {
					t.Fatalf("parseFlags(%q) = %v, want a usage error containing %q", tc.args, err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tc.args, err)
			}
			if *asJSON != tc.wantJSON || *name != tc.wantName || !slices.Equal(fs.Args(), tc.wantArgs) {
				t.Errorf("parseFlags(%q): json=%v name=%q args=%q, want json=%v name=%q args=%q",
					tc.args, *asJSON, *name, fs.Args(), tc.wantJSON, tc.wantName, tc.wantArgs)
			}
		})
	}
}

// main prints "oauth2d: " before the error; the error must not repeat it.
func TestErrorsNameTheCommandOnce(t *testing.T) {
	inEmptyDir(t)
	for _, args := range [][]string{
		{"client", "get", "a", "b"},
		{"client", "list"},
		{"user", "create", "--bogus"},
		{"healthcheck", "extra"},
	} {
		res := runCmd(t, nil, "", args...)
		if res.err == nil || strings.HasPrefix(errorMessage(res.err), "oauth2d") {
			t.Errorf("oauth2d %s: error %q, want one that does not start with oauth2d", strings.Join(args, " "), res.err)
		}
	}
}
