package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// jsDPoPStep is one DPoP or PAR step of check.mjs's answer.
type jsDPoPStep struct {
	OK           bool   `json:"ok"`
	Error        string `json:"error"`
	Thumbprint   string `json:"thumbprint"`
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Status       int    `json:"status"`
	APIStatus    int    `json:"api_status"`
	Body         struct {
		Sub string `json:"sub"`
	} `json:"body"`
	AlgValues  []string  `json:"dpop_signing_alg_values_supported"`
	RequestURI string    `json:"request_uri"`
	Endpoint   string    `json:"endpoint"`
	AsBearer   jsRefusal `json:"as_bearer"`
	NoProof    jsRefusal `json:"without_proof"`
}

type jsRefusal struct {
	Status          int    `json:"status"`
	WWWAuthenticate string `json:"www_authenticate"`
	Body            struct {
		Error string `json:"error"`
	} `json:"body"`
}

// runCheck runs check.mjs against s with env and returns its steps; a
// script that printed no JSON fails t.
func runCheck(t *testing.T, node, issuer string, env ...string) map[string]jsDPoPStep {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsInteropDir, "check.mjs"), issuer)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run() // exit 1 means a failed step, reported in the JSON
	var out struct {
		Error string                `json:"error"`
		Steps map[string]jsDPoPStep `json:"steps"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("check.mjs: %v (run: %v)\nstdout: %s\nstderr: %s", err, runErr, stdout.Bytes(), stderr.Bytes())
	}
	if out.Error != "" {
		t.Fatalf("check.mjs: %s\nstderr: %s", out.Error, stderr.Bytes())
	}
	return out.Steps
}

// TestJSInteropDPoP: oauth4webapi, with a key the test made, pushes the
// authorization request (PAR) with a DPoP proof, which binds the code to
// the key; the test's browser signs in with the request_uri; then
// oauth4webapi redeems the code with PKCE and DPoP, calls the built-in API
// with proofs, refreshes with DPoP, and the same token is refused as a
// bearer token and without a proof. The whole server runs through the
// real route table (webtest).
func TestJSInteropDPoP(t *testing.T) {
	node := requireNode(t)
	s := webtest.New(t, webtest.Options{})
	key := dpoptest.NewKey(t)
	_, verifier := webtest.CodeRequest(webtest.PublicID, "")
	nonce := "n-" + key.Thumbprint(t)[:8]
	privateJWK, err := json.Marshal(jose.JSONWebKey{Key: key.Private, Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"OAUTH2D_DPOP_CLIENT_ID=" + webtest.PublicID, "OAUTH2D_DPOP_CODE_VERIFIER=" + verifier,
		"OAUTH2D_DPOP_NONCE=" + nonce, "OAUTH2D_REDIRECT_URI=" + s.RedirectURI,
		"OAUTH2D_DPOP_PRIVATE_JWK=" + string(privateJWK), "OAUTH2D_DPOP_API=" + s.URL + "/api/v1/me",
	}

	pushed := runCheck(t, node, s.Issuer, append(env, "OAUTH2D_PAR_PUSH=1")...)
	p := pushed["par_push"]
	if !p.OK || !strings.HasPrefix(p.RequestURI, oauth.RequestURIPrefix) || p.Endpoint != s.Issuer+oauth.PushedAuthorizationPath {
		t.Fatalf("par_push: %+v", p)
	}
	cb := codeFor(t, s, s.NewBrowser(t), url.Values{"client_id": {webtest.PublicID}, "request_uri": {p.RequestURI}})

	st := runCheck(t, node, s.Issuer, append(env, "OAUTH2D_DPOP_CODE="+cb.Get("code"))...)
	for _, name := range []string{"discovery", "dpop_code", "dpop_api", "dpop_refresh", "dpop_refused"} {
		if step, ok := st[name]; !ok || !step.OK {
			t.Errorf("step %s failed: %s", name, step.Error)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if algs := st["discovery"].AlgValues; len(algs) == 0 || algs[0] != "ES256" {
		t.Errorf("dpop_signing_alg_values_supported = %v", algs)
	}
	if c := st["dpop_code"]; c.Thumbprint != key.Thumbprint(t) || !strings.EqualFold(c.TokenType, "DPoP") {
		t.Errorf("code exchange: thumbprint %q (want %q), token_type %q", c.Thumbprint, key.Thumbprint(t), c.TokenType)
	}
	if a := st["dpop_api"]; a.Status != 200 || a.Body.Sub != s.Alice.ID {
		t.Errorf("API call: %d sub %q", a.Status, a.Body.Sub)
	}
	if r := st["dpop_refresh"]; !strings.EqualFold(r.TokenType, "DPoP") || r.APIStatus != 200 || r.RefreshToken == st["dpop_code"].RefreshToken {
		t.Errorf("refresh: token_type %q, API %d, rotated %v", r.TokenType, r.APIStatus, r.RefreshToken != st["dpop_code"].RefreshToken)
	}
	for name, r := range map[string]jsRefusal{"as bearer": st["dpop_refused"].AsBearer, "without proof": st["dpop_refused"].NoProof} {
		if r.Status != 401 || !strings.HasPrefix(r.WWWAuthenticate, "DPoP ") || r.Body.Error == "" {
			t.Errorf("%s: %+v, want 401 with a DPoP challenge", name, r)
		}
	}
}
