package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/testenv/prereq"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// TestJSInteropACRValues: oauth4webapi, as a relying party, reads
// acr_values_supported from discovery, asks for the MFA class, and gets a
// validated ID token whose acr is that class, after the person proved a
// second factor after the password.
func TestJSInteropACRValues(t *testing.T) {
	node := prereq.LookPath(t, "apt-get install -y nodejs npm && npm ci --prefix interop/js", "node")
	dir := filepath.Join("..", "..", "interop", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oauth4webapi")); err != nil {
		prereq.Missing(t, "the JS interop packages", err.Error(), "npm ci --prefix interop/js")
	}
	clock := newTestClock()
	s := webtest.New(t, webtest.Options{Now: clock.Now})
	b := s.NewBrowser(t)
	signInPassword(t, b, "alice", webtest.AlicePassword)
	secret, _ := enrolTOTP(t, b, clock)
	clock.Advance(30 * time.Second)

	run := func(mode string, extra ...string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "acr.mjs"), mode, s.Issuer)
		cmd.Env = append(os.Environ(), "OAUTH2D_CLIENT_ID="+webtest.FirstPartyID, "OAUTH2D_CLIENT_SECRET="+webtest.FirstPartySecret,
			"OAUTH2D_REDIRECT_URI="+s.RedirectURI, "OAUTH2D_ACR_VALUES="+account.ACRMFA)
		cmd.Env = append(cmd.Env, extra...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()
		var out map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out["error"] != nil {
			t.Fatalf("acr.mjs %s: %v %v (run: %v)\nstdout: %s\nstderr: %s", mode, err, out["error"], runErr, stdout.Bytes(), stderr.Bytes())
		}
		return out
	}
	start := run("start")
	// A new browser: the password, then the second-factor page.
	b2 := s.NewBrowser(t)
	p := b2.Follow(b2.Get(start["url"].(string)))
	p = b2.SubmitLogin(p, "alice", webtest.AlicePassword)
	code, err := account.TOTPCode(secret, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	cb := b2.SubmitSecondFactor(p, "totp", code)
	if loc := cb.Location(); loc == nil || !strings.HasPrefix(loc.String(), s.RedirectURI) {
		t.Fatalf("no callback: %d %s", cb.Status, cb.Body)
	}
	out := run("finish", "OAUTH2D_CALLBACK="+cb.Location().String(), "OAUTH2D_STATE="+start["state"].(string),
		"OAUTH2D_NONCE="+start["nonce"].(string), "OAUTH2D_CODE_VERIFIER="+start["verifier"].(string))
	claims, _ := out["claims"].(map[string]any)
	if out["satisfied"] != true || claims["acr"] != account.ACRMFA || claims["sub"] != s.Alice.ID {
		t.Fatalf("oauth4webapi got %v", out)
	}
	var amr []string
	for _, v := range claims["amr"].([]any) {
		amr = append(amr, v.(string))
	}
	if !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("amr %v", amr)
	}
}
