package main

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/token"
)

// serveUntilReady starts `oauth2d serve` through run, waits for /readyz to
// answer 200, and returns the base URL and a stop function that cancels
// the context and returns run's error.
func serveUntilReady(t *testing.T, env map[string]string) (string, *syncBuffer, func() error) {
	t.Helper()
	s := startServe(t, env)
	s.waitReady(t, 20*time.Second)
	return s.base, &s.logs, s.stop
}

// serving is one `oauth2d serve` that startServe started.
type serving struct {
	t     *testing.T
	base  string
	logs  syncBuffer
	done  chan error
	start time.Time
	end   context.CancelFunc
}

// startServe starts `oauth2d serve` through run and returns at once, so
// that several instances can start together; waitReady waits for one.
func startServe(t *testing.T, env map[string]string) *serving {
	t.Helper()
	addr := env["OAUTH2D_ADDR"] // set when the issuer must name it
	if addr == "" {
		addr = freeAddr(t)
		env["OAUTH2D_ADDR"] = addr
	}
	if _, ok := env["OAUTH2D_HTTP_DRAIN_DELAY"]; !ok {
		env["OAUTH2D_HTTP_DRAIN_DELAY"] = "0s" // no load balancer to wait for
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &serving{t: t, base: "http://" + addr, done: make(chan error, 1), start: time.Now(), end: cancel}
	go func() {
		s.done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, &s.logs)
	}()
	return s
}

// waitReady waits until /readyz answers 200, at most within.
func (s *serving) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-s.done:
			t.Fatalf("serve exited before it was ready: %v\n%s", err, s.logs.String())
		default:
		}
		if resp, err := client.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(s.start) > within {
			t.Fatalf("not ready after %v:\n%s", within, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("ready after %v", time.Since(s.start).Round(time.Millisecond))
}

// stop cancels run's context and returns run's error.
func (s *serving) stop() error {
	s.end()
	select {
	case err := <-s.done:
		return err
	case <-time.After(15 * time.Second):
		s.t.Fatal("serve did not stop within 15s of cancel")
		return nil
	}
}

func TestServeZeroSetup(t *testing.T) {
	env := map[string]string{"OAUTH2D_BOOTSTRAP": mustAbs(t, "../../configs/bootstrap.yaml")}
	inEmptyDir(t)
	base, logs, stop := serveUntilReady(t, env)

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("/healthz = %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the response")
	}

	if out := mustRun(t, env, "", "healthcheck"); strings.TrimSpace(out) != "ready" {
		t.Errorf("healthcheck printed %q", out)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancel, want a clean shutdown", err)
	}
	if res := runCmd(t, env, "", "healthcheck"); exitCode(res.err) != 1 {
		t.Errorf("healthcheck after shutdown = %v, want exit 1", res.err)
	}
	out := logs.String()
	for _, want := range []string{"embedded in-process Redis", "bootstrap applied", "created=7", "oauth2d stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestServeWithRedisIsIdempotent(t *testing.T) {
	bootstrapFile := mustAbs(t, "../../configs/bootstrap.yaml")
	env, st := adminEnv(t)
	env["OAUTH2D_BOOTSTRAP"] = bootstrapFile
	env["OAUTH2D_KEYS_SOURCE"] = "redis"
	env["OAUTH2D_KEY_ENCRYPTION_KEY"] = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("e", 32)))
	env["OAUTH2D_KEYS_ID_TOKEN_ALGORITHM"] = "ES256"
	ctx := context.Background()

	_, _, stop := serveUntilReady(t, env)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	alice, err := st.GetUserByUsername(ctx, "alice")
	if err != nil {
		t.Fatalf("bootstrap user not in Redis: %v", err)
	}
	keys, err := token.List(ctx, st)
	if err != nil || len(keys) != 2 {
		t.Fatalf("stored keys = %+v (%v), want an active and a next key", keys, err)
	}

	// A second instance over the same Redis rewrites nothing.
	_, logs, stop := serveUntilReady(t, env)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "unchanged=7") {
		t.Errorf("second start was not a no-op:\n%s", logs)
	}
	again, _ := st.GetUserByUsername(ctx, "alice")
	if again.ID != alice.ID || again.PasswordHash != alice.PasswordHash {
		t.Error("restart changed alice's ID or password hash")
	}
	if keys2, _ := token.List(ctx, st); len(keys2) != 2 || keys2[0].ID != keys[0].ID {
		t.Errorf("restart changed the keys: %+v -> %+v", keys, keys2)
	}
}

// mustAbs resolves a path relative to the package directory; call it
// before inEmptyDir moves the test away.
func mustAbs(t *testing.T, rel string) string {
	t.Helper()
	abs, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
