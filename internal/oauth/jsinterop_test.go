package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/testenv/prereq"
)

// jsInteropDir holds the node script and its pinned dependencies, seen from
// this package's directory (go test runs in it).
const jsInteropDir = "../../interop/js"

// jsStep is one step of check.mjs's answer; the fields a step does not
// fill stay empty.
type jsStep struct {
	OK           bool   `json:"ok"`
	Error        string `json:"error"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	IDTokenSub   string `json:"id_token_sub"`
	IDTokenNonce string `json:"id_token_nonce"`
	JWKSURI      string `json:"jwks_uri"`
	Verified     map[string]struct {
		Payload map[string]any `json:"payload"`
		Header  map[string]any `json:"header"`
	} `json:"verified"`
	// The introspection step's answers, plain and signed (RFC 9701).
	Plain          jsIntrospection `json:"plain"`
	Signed         jsIntrospection `json:"signed"`
	SignedInactive jsIntrospection `json:"signed_inactive"`

	IDTokenAsAccessToken jsRejection `json:"id_token_as_access_token"`
	IDTokenAnyAlg        jsRejection `json:"id_token_as_access_token_any_alg"`
	Tampered             jsRejection `json:"tampered"`
}

type jsIntrospection struct {
	ContentType string         `json:"content_type"`
	Answer      map[string]any `json:"answer"`
}

type jsRejection struct {
	Rejected bool   `json:"rejected"`
	Code     string `json:"code"`
	Claim    string `json:"claim"`
}

// requireNode returns the node binary, skipping the test on a developer
// machine without node or without `npm ci --prefix interop/js`; under CI
// the same absence fails, so CI cannot pass without running it. jose and
// oauth4webapi need the global WebCrypto of Node 20 or later
// (interop/js/package.json "engines"); Debian 12's nodejs is 18.
func requireNode(t *testing.T) string {
	t.Helper()
	return prereq.Node(t, 20, jsInteropDir, "oauth4webapi", "jose", "express", "express-oauth2-jwt-bearer")
}

// TestJSInterop drives the server with oauth4webapi and jose, clients
// written by someone else to the same RFCs, through interop/js/check.mjs.
func TestJSInterop(t *testing.T) {
	node := requireNode(t)
	s := newServer(t)
	code, verifier := s.newCode(thirdPartyID, "openid profile offline_access", true)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsInteropDir, "check.mjs"), s.Issuer)
	cmd.Env = append(os.Environ(),
		"OAUTH2D_CC_CLIENT_ID="+serviceID, "OAUTH2D_CC_CLIENT_SECRET="+serviceSecret, "OAUTH2D_CC_SCOPE=comments:read",
		"OAUTH2D_CODE_CLIENT_ID="+thirdPartyID, "OAUTH2D_CODE_CLIENT_SECRET="+thirdPartySecret,
		"OAUTH2D_REDIRECT_URI="+redirectURI, "OAUTH2D_CODE="+code, "OAUTH2D_CODE_VERIFIER="+verifier,
		"OAUTH2D_NONCE=n-0S6_WzA2Mj",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run() // exit 1 means a failed step, reported in the JSON
	var out struct {
		Error string            `json:"error"`
		Steps map[string]jsStep `json:"steps"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("check.mjs: %v (run: %v)\nstdout: %s\nstderr: %s", err, runErr, stdout.Bytes(), stderr.Bytes())
	}
	if out.Error != "" {
		t.Fatalf("check.mjs: %s\nstderr: %s", out.Error, stderr.Bytes())
	}
	for _, name := range []string{"discovery", "client_credentials", "authorization_code", "refresh", "introspection", "jose"} {
		if st, ok := out.Steps[name]; !ok || !st.OK {
			t.Errorf("step %s failed: %s", name, st.Error)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	checkJSTokens(t, s, out.Steps)
	checkJSJose(t, s, out.Steps["jose"])
	checkJSIntrospection(t, out.Steps["introspection"])
}

// checkJSIntrospection: oauth4webapi accepted the signed answers (it
// checks typ, alg, iss, aud, iat and the signature), and they say what
// the plain one says.
func checkJSIntrospection(t *testing.T, st jsStep) {
	t.Helper()
	if st.Plain.ContentType != "application/json; charset=utf-8" || st.Signed.ContentType != "application/token-introspection+jwt" {
		t.Errorf("content types: plain %q, signed %q", st.Plain.ContentType, st.Signed.ContentType)
	}
	if st.Plain.Answer["active"] != true || st.Plain.Answer["client_id"] != serviceID {
		t.Errorf("plain answer %v, want the service's active token", st.Plain.Answer)
	}
	if !reflect.DeepEqual(st.Signed.Answer, st.Plain.Answer) {
		t.Errorf("signed answer\n%v\nwant the plain one\n%v", st.Signed.Answer, st.Plain.Answer)
	}
	if !reflect.DeepEqual(st.SignedInactive.Answer, map[string]any{"active": false}) {
		t.Errorf("signed answer about no token: %v", st.SignedInactive.Answer)
	}
}

// checkJSTokens checks that what the library got is what the server meant
// to issue, asking the server itself where it can.
func checkJSTokens(t *testing.T, s *server, steps map[string]jsStep) {
	t.Helper()
	if got := steps["discovery"].JWKSURI; got != s.Issuer+"/.well-known/jwks.json" {
		t.Errorf("discovery jwks_uri = %q", got)
	}
	cc, ac, rf := steps["client_credentials"], steps["authorization_code"], steps["refresh"]
	if !strings.EqualFold(cc.TokenType, "bearer") || cc.Scope != "comments:read" {
		t.Errorf("client_credentials: token_type %q scope %q", cc.TokenType, cc.Scope)
	}
	if ac.IDTokenSub != s.alice.ID || ac.IDTokenNonce != "n-0S6_WzA2Mj" {
		t.Errorf("id_token sub %q nonce %q, want %q and the stored nonce", ac.IDTokenSub, ac.IDTokenNonce, s.alice.ID)
	}
	if ac.RefreshToken == "" || rf.RefreshToken == "" || rf.RefreshToken == ac.RefreshToken {
		t.Errorf("refresh did not rotate: before %q after %q", ac.RefreshToken, rf.RefreshToken)
	}
	for name, tok := range map[string]string{"client_credentials": cc.AccessToken, "code": ac.AccessToken, "refresh": rf.AccessToken} {
		if !s.active(tok) {
			t.Errorf("%s access token the library got is not active", name)
		}
	}
	// The library's refresh rotated the token out: presenting it again is reuse.
	wantError(t, s.refresh(ac.RefreshToken, thirdPartyID, thirdPartySecret), 400, "invalid_grant")
}

// checkJSJose checks what jose verified against the JWKS and what it refused.
func checkJSJose(t *testing.T, s *server, st jsStep) {
	t.Helper()
	tests := []struct {
		name, sub, typ, alg, clientID string
	}{
		{name: "client_credentials", sub: serviceID, typ: "at+jwt", alg: "ES256", clientID: serviceID},
		{name: "authorization_code", sub: s.alice.ID, typ: "at+jwt", alg: "ES256", clientID: thirdPartyID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := st.Verified[tc.name]
			if !ok {
				t.Fatal("not verified")
			}
			if v.Header["typ"] != tc.typ || v.Header["alg"] != tc.alg || v.Header["kid"] == "" {
				t.Errorf("header %v", v.Header)
			}
			if v.Payload["sub"] != tc.sub || v.Payload["client_id"] != tc.clientID || v.Payload["jti"] == "" {
				t.Errorf("payload %v", v.Payload)
			}
		})
	}
	if v := st.Verified["id_token"]; v.Payload["sub"] != s.alice.ID || v.Payload["nonce"] != "n-0S6_WzA2Mj" {
		t.Errorf("id_token payload %v", v.Payload)
	}
	if r := st.IDTokenAsAccessToken; !r.Rejected {
		t.Errorf("id_token passed as an access token: %+v", r)
	}
	// With its algorithm allowed, jose names the failed check: the typ header.
	if r := st.IDTokenAnyAlg; !r.Rejected || r.Code != "ERR_JWT_CLAIM_VALIDATION_FAILED" || r.Claim != "typ" {
		t.Errorf("id_token as access token, any algorithm: %+v, want rejected on typ", r)
	}
	if r := st.Tampered; !r.Rejected || r.Code != "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" {
		t.Errorf("tampered token: %+v, want a signature failure", r)
	}
}
