package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv/prereq"
)

// mcpDir holds the MCP server and client scripts and their pinned
// packages (the official @modelcontextprotocol/sdk), seen from this
// package's directory.
const mcpDir = "../../interop/mcp"

// The test's registrations; the resource's id is the MCP server's URL,
// known once its port is.
const (
	mcpClientID    = "mcp-cli" // public, loopback redirect URI: a native MCP client
	mcpUser        = "alice"
	mcpPassword    = "alice-password-0123"
	mcpScope       = "mcp:tools"
	otherServiceID = "comments-service" // gets tokens for the comments API, not the MCP server
	otherSecret    = "comments-service-secret-0123456789"
	robotID        = "mcp-robot" // a machine client of the MCP server
	robotSecret    = "mcp-robot-secret-0123456789"
)

func mcpBootstrap(resource string) string {
	return fmt.Sprintf(`clients:
  - id: %[1]s
    name: MCP CLI
    public: true
    redirect_uris: [http://127.0.0.1/callback]
    grant_types: [authorization_code, refresh_token]
    scopes: [offline_access, %[2]s]
  - id: %[3]s
    secret: %[4]s
    grant_types: [client_credentials]
    scopes: [comments:read]
  - id: %[8]s
    secret: %[9]s
    grant_types: [client_credentials]
    scopes: [%[2]s]
users:
  - {username: %[5]s, password: %[6]s, roles: [user]}
resources:
  - id: %[7]s
    name: MCP example
    scopes: [%[2]s]
scopes:
  - name: %[2]s
    title: Use the MCP example's tools
`, mcpClientID, mcpScope, otherServiceID, otherSecret, mcpUser, mcpPassword, resource, robotID, robotSecret)
}

// mcpResult is client.mjs's report.
type mcpResult struct {
	Steps                 []string     `json:"steps"`
	Tools                 []string     `json:"tools"`
	ClientID              string       `json:"client_id"`
	AuthorizationURL      string       `json:"authorization_url"`
	AuthorizationRequests int          `json:"authorization_requests"`
	TokenResponses        int          `json:"token_responses"`
	Before                mcpWhoami    `json:"before"`
	After                 mcpWhoami    `json:"after"`
	CodeTokens            mcpTokenJSON `json:"code_tokens"`
	RefreshedTokens       mcpTokenJSON `json:"refreshed_tokens"`
}

type mcpWhoami struct {
	Sub      string `json:"sub"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Aud      any    `json:"aud"`
}

type mcpTokenJSON struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// TestMCPEndToEnd runs an MCP server protected by oauth2d and the
// official MCP SDK's client against it (interop/mcp): the client is
// refused, discovers oauth2d through the server's RFC 9728 metadata,
// signs alice in through headless Chromium (code flow with PKCE and
// `resource`), calls a tool, refreshes when its access token is refused,
// and calls it again. The MCP server takes only tokens for its own
// audience: a valid oauth2d token for the comments API is refused with
// the challenge that leads a client to the metadata.
func TestMCPEndToEnd(t *testing.T) {
	dir := mustAbs(t, mcpDir) // before the test leaves the package directory
	node := prereq.Node(t, 20, dir, "@modelcontextprotocol/sdk", "jose", "express", "zod")
	chromium := prereq.LookPath(t, "apt-get install -y chromium", "chromium", "chromium-browser")
	redis, st := adminEnv(t) // a real Redis, and the store on it for the test's checks

	asAddr, mcpAddr := freeAddr(t), freeAddr(t)
	issuer, resource := "http://"+asAddr, "http://"+mcpAddr+"/mcp"
	file := filepath.Join(t.TempDir(), "bootstrap.yaml")
	writeFile(t, file, mcpBootstrap(resource))
	// A client ID metadata document on an https server of the test's,
	// whose CA oauth2d trusts through outbound.ca_file.
	docRedirect := "http://" + freeAddr(t) + "/callback"
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": "https://" + r.Host + r.URL.Path, "client_name": "MCP document client",
			"redirect_uris": []string{docRedirect}, "grant_types": []string{"authorization_code", "refresh_token"},
			"token_endpoint_auth_method": "none", "scope": mcpScope + " offline_access"})
	}))
	t.Cleanup(docs.Close)
	caFile := filepath.Join(t.TempDir(), "docs-ca.pem")
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: docs.Certificate().Raw})))
	s := startServe(t, map[string]string{
		"OAUTH2D_ADDR": asAddr, "OAUTH2D_ISSUER": issuer, "OAUTH2D_BOOTSTRAP": file,
		"OAUTH2D_REDIS_URL": redis["OAUTH2D_REDIS_URL"], "OAUTH2D_REDIS_PREFIX": redis["OAUTH2D_REDIS_PREFIX"],
		"OAUTH2D_KEYS_ID_TOKEN_ALGORITHM": "ES256", // no RSA key to generate under -race
		"OAUTH2D_LOG_LEVEL":               "warn",
		// Open registration for the SDK's own path (RFC 7591), for the
		// MCP server's scope and refresh tokens.
		"OAUTH2D_REGISTRATION_MODE": "open", "OAUTH2D_REGISTRATION_SCOPES": "offline_access," + mcpScope,
		// And client ID metadata documents, from the test's https server.
		"OAUTH2D_CLIENT_ID_METADATA_ENABLED": "true", "OAUTH2D_CLIENT_ID_METADATA_SCOPES": "offline_access," + mcpScope,
		"OAUTH2D_OUTBOUND_CA_FILE": caFile, "OAUTH2D_OUTBOUND_ALLOW_INTERNAL": "127.0.0.1",
	})
	t.Cleanup(func() { _ = s.stop() })
	s.waitReady(t, 30*time.Second)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	server := startNode(ctx, t, node, filepath.Join(dir, "server.mjs"), "--issuer", issuer, "--resource", resource)
	if _, err := server.next(ctx, "listening"); err != nil {
		t.Fatalf("MCP server: %v\nstderr: %s", err, server.stderr.String())
	}
	metadataURL := "http://" + mcpAddr + "/.well-known/oauth-protected-resource/mcp"
	checkMCPMetadata(t, metadataURL, resource, issuer)

	t.Run("a machine client's token, bearer and DPoP-bound", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {mcpScope}, "resource": {resource}}
		bearer := tokenRequest(issuer, robotID, robotSecret, form)
		if bearer.status != http.StatusOK {
			t.Fatalf("token for the MCP server: %d %v", bearer.status, bearer.body)
		}
		if status, challenge := mcpPost(t, resource, bearer.str("access_token")); status != http.StatusOK {
			t.Errorf("bearer token for the MCP server: %d %q, want 200", status, challenge)
		}
		// A DPoP-bound token is useless without its proof: the server,
		// which takes Bearer tokens only, refuses it.
		key := dpoptest.NewKey(t)
		req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", key.Proof(t, dpoptest.For(http.MethodPost, issuer+"/oauth2/token")))
		req.SetBasicAuth(robotID, robotSecret)
		bound := do(req)
		if bound.status != http.StatusOK || bound.str("token_type") != "DPoP" {
			t.Fatalf("DPoP-bound token for the MCP server: %d %v", bound.status, bound.body)
		}
		if status, challenge := mcpPost(t, resource, bound.str("access_token")); status != http.StatusUnauthorized ||
			!strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("DPoP-bound token as a bearer token: %d %q, want 401 invalid_token", status, challenge)
		}
	})

	t.Run("another audience's token is refused", func(t *testing.T) {
		tok := tokenRequest(issuer, otherServiceID, otherSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"comments:read"}})
		if tok.status != http.StatusOK {
			t.Fatalf("token for the comments API: %d %v", tok.status, tok.body)
		}
		if me := get(issuer, "/api/v1/comments", tok.str("access_token")); me.status != http.StatusOK {
			t.Fatalf("the comments API refused its own token: %d %v", me.status, me.body)
		}
		for name, bearer := range map[string]string{"no token": "", "comments API token": tok.str("access_token")} {
			status, challenge := mcpPost(t, resource, bearer)
			if status != http.StatusUnauthorized || !strings.Contains(challenge, `resource_metadata="`+metadataURL+`"`) ||
				(bearer != "" && !strings.Contains(challenge, `error="invalid_token"`)) {
				t.Errorf("%s: %d WWW-Authenticate %q, want 401 invalid_token with resource_metadata=%q", name, status, challenge, metadataURL)
			}
		}
	})

	// runClient runs client.mjs with the identity flags given, signing
	// alice in with Chromium when it asks.
	runClient := func(t *testing.T, identity ...string) mcpResult {
		args := append([]string{filepath.Join(dir, "client.mjs"), "--server", resource, "--timeout", "90"}, identity...)
		client := startNode(ctx, t, node, args[0], args[1:]...)
		authorize, err := client.next(ctx, "authorize")
		if err != nil {
			t.Fatalf("MCP client: %v\nstderr: %s", err, client.stderr.String())
		}
		signInWithChromium(ctx, t, chromium, authorize.(string))
		raw, err := client.next(ctx, "result")
		if err != nil {
			t.Fatalf("MCP client: %v\nstderr: %s\nMCP server stderr: %s", err, client.stderr.String(), server.stderr.String())
		}
		var res mcpResult
		if err := remarshal(raw, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	alice, err := st.GetUserByUsername(t.Context(), mcpUser)
	if err != nil {
		t.Fatal(err)
	}
	res := runClient(t, "--client-id", mcpClientID)
	checkMCPResult(t, res, issuer, resource, alice.ID, mcpClientID)

	// The SDK's own path when it has no client: it registers one at the
	// registration_endpoint discovery gives (RFC 7591), then the same flow.
	t.Run("a client that registers itself", func(t *testing.T) {
		res := runClient(t, "--register")
		if res.ClientID == "" || res.ClientID == mcpClientID {
			t.Fatalf("client id %q: want one the registration made", res.ClientID)
		}
		c, err := st.GetClient(t.Context(), res.ClientID)
		if err != nil || !c.SelfRegistered || c.FirstParty {
			t.Fatalf("the registered client: %+v %v, want a self-registered third-party client", c, err)
		}
		checkMCPResult(t, res, issuer, resource, alice.ID, res.ClientID)
	})

	// Separately, a client whose id is the URL of its metadata document
	// (draft-ietf-oauth-client-id-metadata-document): nothing registered.
	t.Run("a client ID metadata document", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(docRedirect, "http://"), "/callback"))
		docURL := docs.URL + "/mcp-client.json"
		res := runClient(t, "--client-metadata-url", docURL, "--redirect-port", port)
		if res.ClientID != docURL {
			t.Fatalf("client id %q, want the document's URL %s", res.ClientID, docURL)
		}
		if _, err := st.GetClient(t.Context(), docURL); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the document client is in the store (%v): documents are kept in memory only", err)
		}
		checkMCPResult(t, res, issuer, resource, alice.ID, docURL)
	})

	t.Run("MCP Inspector CLI", func(t *testing.T) {
		inspector := filepath.Join(dir, "inspector")
		prereq.Node(t, 20, inspector, "@modelcontextprotocol/inspector")
		who, err := inspectorWhoami(ctx, t, node, inspector, resource, res.RefreshedTokens.AccessToken)
		if err != nil || who.Sub != alice.ID || who.ClientID != mcpClientID {
			t.Errorf("inspector with the client's token: whoami %+v, %v; want alice's", who, err)
		}
		other := tokenRequest(issuer, otherServiceID, otherSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"comments:read"}})
		if who, err := inspectorWhoami(ctx, t, node, inspector, resource, other.str("access_token")); err == nil {
			t.Errorf("inspector with the comments API's token: whoami %+v, want it refused", who)
		}
	})
}

// inspectorWhoami calls the whoami tool through the MCP Inspector's CLI
// with bearer, in a home directory of its own (it keeps a catalog there),
// and returns the answer or the Inspector's error.
func inspectorWhoami(ctx context.Context, t *testing.T, node, dir, resource, bearer string) (mcpWhoami, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "node_modules", ".bin", "mcp-inspector"), "--cli", resource,
		"--transport", "http", "--stored-auth-only", "--method", "tools/call", "--tool-name", "whoami",
		"--header", "Authorization: Bearer "+bearer)
	cmd.Env = []string{"HOME=" + home, "MCP_CATALOG_PATH=" + filepath.Join(home, "mcp.json"), "PATH=" + filepath.Dir(node)}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		return mcpWhoami{}, fmt.Errorf("%w: %s", err, out)
	}
	var answer struct {
		StructuredContent mcpWhoami `json:"structuredContent"`
	}
	if err := json.Unmarshal(out, &answer); err != nil {
		return mcpWhoami{}, fmt.Errorf("%w: %s", err, out)
	}
	return answer.StructuredContent, nil
}

// checkMCPMetadata: the server's RFC 9728 metadata names its resource and
// oauth2d, and the scope it defines.
func checkMCPMetadata(t *testing.T, metadataURL, resource, issuer string) {
	t.Helper()
	res, err := http.Get(metadataURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var md struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	if err := json.NewDecoder(res.Body).Decode(&md); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("protected resource metadata: %d %v", res.StatusCode, err)
	}
	if md.Resource != resource || !slices.Equal(md.AuthorizationServers, []string{issuer}) || !slices.Equal(md.ScopesSupported, []string{mcpScope}) {
		t.Errorf("protected resource metadata %+v, want resource %s on %s with %s", md, resource, issuer, mcpScope)
	}
}

// checkMCPResult checks what the SDK's client went through and what the
// tool answered, before and after the refresh.
func checkMCPResult(t *testing.T, res mcpResult, issuer, resource, alice, clientID string) {
	t.Helper()
	if want := []string{"unauthorized", "code_exchanged", "tool_called", "refreshed_and_called"}; !slices.Equal(res.Steps, want) {
		t.Errorf("steps %v, want %v", res.Steps, want)
	}
	if !slices.Equal(res.Tools, []string{"time", "whoami"}) {
		t.Errorf("tools %v", res.Tools)
	}
	authz, err := url.Parse(res.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	q := authz.Query()
	if authz.Scheme+"://"+authz.Host+authz.Path != issuer+"/oauth2/authorize" || q.Get("client_id") != clientID ||
		q.Get("resource") != resource || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("scope") != mcpScope+" offline_access" || q.Get("state") == "" {
		t.Errorf("authorization request %s, want oauth2d's endpoint with PKCE S256, resource=%s and scope %q", res.AuthorizationURL, resource, mcpScope+" offline_access")
	}
	if res.AuthorizationRequests != 1 || res.TokenResponses != 2 {
		t.Errorf("%d authorization requests and %d token responses, want one sign-in, then the code and one refresh",
			res.AuthorizationRequests, res.TokenResponses)
	}
	for name, who := range map[string]mcpWhoami{"before the refresh": res.Before, "after the refresh": res.After} {
		if who.Sub != alice || who.ClientID != clientID || who.Scope != mcpScope+" offline_access" {
			t.Errorf("whoami %s = %+v, want sub %s (alice) for %s with %s", name, who, alice, clientID, mcpScope)
		}
	}
	code, refreshed := res.CodeTokens, res.RefreshedTokens
	if code.RefreshToken == "" || refreshed.RefreshToken == "" || refreshed.RefreshToken == code.RefreshToken ||
		refreshed.AccessToken == code.AccessToken {
		t.Errorf("the refresh did not rotate: code tokens %+v, refreshed %+v", code, refreshed)
	}
	for name, tok := range map[string]string{"code": code.AccessToken, "refresh": refreshed.AccessToken} {
		claims := jwtClaims(t, tok)
		if claims["aud"] != resource && !slices.Contains(asStrings(claims["aud"]), resource) {
			t.Errorf("%s access token aud %v, want the MCP server %s", name, claims["aud"], resource)
		}
		// A token for the MCP server is no good at oauth2d's own API.
		if me := get(issuer, "/api/v1/me", tok); me.status != http.StatusUnauthorized {
			t.Errorf("%s access token at the comments API: %d, want 401", name, me.status)
		}
	}
	// The SDK's refresh rotated the first refresh token: within the
	// refresh grace (tokens.refresh_grace, 30 s) presenting it again
	// repeats the answer the SDK got, the same successor.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {code.RefreshToken}, "client_id": {clientID}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if again := do(req); again.status != http.StatusOK || again.str("refresh_token") != refreshed.RefreshToken {
		t.Errorf("the first refresh token again: %d %v, want the successor the SDK got", again.status, again.body)
	}
}

// mcpPost sends an MCP initialize request with bearer (none when empty)
// and returns the status and challenge.
func mcpPost(t *testing.T, resource, bearer string) (int, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"go-test","version":"1"}}}`
	req, err := http.NewRequest(http.MethodPost, resource, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("WWW-Authenticate")
}

// signInWithChromium opens the authorization URL in headless Chromium,
// signs alice in, allows, and waits for the MCP client's callback page.
func signInWithChromium(ctx context.Context, t *testing.T, chromium, authorize string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(720, 640),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	steps := []struct {
		name string
		run  func() error
	}{
		{"open the authorization URL", func() error {
			return chromedp.Do(bctx, chromedp.Navigate(authorize), chromedp.WaitVisible(chromedp.ID("username")))
		}},
		{"sign in", func() error {
			return chromedp.Do(bctx, chromedp.SendKeys(chromedp.ID("username"), mcpUser),
				chromedp.SendKeys(chromedp.ID("password"), mcpPassword),
				chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("allow")))
		}},
		{"allow", func() error {
			return chromedp.Do(bctx, chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
		}},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			loc, _ := chromedp.Run(bctx, chromedp.Location())
			t.Fatalf("%s: %v (browser at %s)", st.name, err, loc)
		}
	}
}

// nodeProcess is a node script the test started; it is killed when the
// test ends.
type nodeProcess struct {
	lines  chan map[string]any
	stderr *syncBuffer
}

func startNode(ctx context.Context, t *testing.T, node string, script string, args ...string) *nodeProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	p := &nodeProcess{lines: make(chan map[string]any, 16), stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				p.lines <- line
			}
		}
	}()
	t.Cleanup(func() {
		cancel() // kills it if it still runs
		_ = cmd.Wait()
	})
	return p
}

// next waits for the process's next JSON line and returns its field
// key; a line with "error" instead, the end of output or ctx is an error.
func (p *nodeProcess) next(ctx context.Context, key string) (any, error) {
	select {
	case line, ok := <-p.lines:
		if !ok {
			return nil, errors.New("exited without " + key)
		}
		if v, ok := line[key]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("%v, want %s", line, key)
	case <-ctx.Done():
		return nil, fmt.Errorf("no %s: %w", key, ctx.Err())
	}
}

func remarshal(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// jwtClaims decodes a JWT's payload without verifying it: the MCP server
// verified it, this only reads what it was issued for.
func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func asStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
