package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// jsDPoPStep is one DPoP step of check.mjs's answer.
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
	AlgValues []string  `json:"dpop_signing_alg_values_supported"`
	AsBearer  jsRefusal `json:"as_bearer"`
	NoProof   jsRefusal `json:"without_proof"`
}

type jsRefusal struct {
	Status          int    `json:"status"`
	WWWAuthenticate string `json:"www_authenticate"`
	Body            struct {
		Error string `json:"error"`
	} `json:"body"`
}

// TestJSInteropDPoP: oauth4webapi, with a key the test made, redeems a
// code bound to that key (dpop_jkt) with PKCE and DPoP, calls the built-in
// API with proofs, refreshes with DPoP, and the same token is refused as
// a bearer token and without a proof. The whole server runs through the
// real route table (webtest).
func TestJSInteropDPoP(t *testing.T) {
	node := requireNode(t)
	s := webtest.New(t, webtest.Options{})
	key := dpoptest.NewKey(t)
	params, verifier := webtest.CodeRequest(webtest.PublicID, "openid profile offline_access")
	params.Set("dpop_jkt", key.Thumbprint(t))
	cb := codeFor(t, s, s.NewBrowser(t), params)
	privateJWK, err := json.Marshal(jose.JSONWebKey{Key: key.Private, Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsInteropDir, "check.mjs"), s.Issuer)
	cmd.Env = append(os.Environ(),
		"OAUTH2D_DPOP_CLIENT_ID="+webtest.PublicID, "OAUTH2D_DPOP_CODE="+cb.Get("code"),
		"OAUTH2D_DPOP_CODE_VERIFIER="+verifier, "OAUTH2D_DPOP_NONCE="+params.Get("nonce"),
		"OAUTH2D_REDIRECT_URI="+s.RedirectURI, "OAUTH2D_DPOP_PRIVATE_JWK="+string(privateJWK),
		"OAUTH2D_DPOP_API="+s.URL+"/api/v1/me",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
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
	for _, name := range []string{"discovery", "dpop_code", "dpop_api", "dpop_refresh", "dpop_refused"} {
		if st, ok := out.Steps[name]; !ok || !st.OK {
			t.Errorf("step %s failed: %s", name, st.Error)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	st := out.Steps
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
