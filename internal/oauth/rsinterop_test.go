package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/jwks"
	"github.com/auth0/go-jwt-middleware/v2/validator"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// Resource-server interop (RFC 8707 + RFC 9068): oauth2d's access tokens
// in front of JWT middleware written elsewhere, each configured as its
// documentation says, with the issuer, the JWKS and one audience. Each
// must take the token issued for its own API and refuse the one issued
// for another.

// reportsAPI is a second resource, stored as an operator registers one.
const reportsAPI = "https://reports.example/"

// The client the resource-server tests get their tokens with.
const (
	rsClientID     = "rs-interop"
	rsClientSecret = "rs-interop-secret-0123456789"
)

// rsInterop is a whole server with the reports API registered, its two
// APIs, and the tokens the resource servers are shown, by name:
//
//	comments  client_credentials, resource=<issuer>/api
//	reports   client_credentials, resource=reportsAPI
//	both      client_credentials for scopes of both, no resource: aud both
//	id_token  alice's ID token (password grant with openid)
//	expired   a reports token issued an hour ago
type rsInterop struct {
	srv    *webtest.Server
	apis   []rsAPI
	tokens map[string]string
}

type rsAPI struct{ name, audience string }

func newRSInterop(t *testing.T) *rsInterop {
	t.Helper()
	clock := &resourcetest.Clock{}
	srv := webtest.New(t, webtest.Options{Now: clock.Now})
	ctx := t.Context()
	if err := srv.Store.UpsertResource(ctx, &storage.Resource{ID: reportsAPI, Name: "Reports", Scopes: []string{"reports:read"}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Store.CreateClient(ctx, &storage.Client{ID: rsClientID, SecretHash: testenv.Hash(t, rsClientSecret), FirstParty: true,
		GrantTypes: []string{"client_credentials", "password"}, Scopes: []string{"openid", "comments:read", "reports:read"}}); err != nil {
		t.Fatal(err)
	}
	comments := srv.Issuer + "/api"
	rs := &rsInterop{srv: srv, apis: []rsAPI{{"comments", comments}, {"reports", reportsAPI}}, tokens: map[string]string{}}
	get := func(name, field string, f url.Values) {
		t.Helper()
		res := srv.PostToken(t, f, rsClientID, rsClientSecret)
		if res.Status != http.StatusOK || res.Str(field) == "" {
			t.Fatalf("%s: %d %s", name, res.Status, res.Raw)
		}
		rs.tokens[name] = res.Str(field)
	}
	cc := func(scope string, resources ...string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "resource": resources}
	}
	get("comments", "access_token", cc("comments:read", comments))
	get("reports", "access_token", cc("reports:read", reportsAPI))
	get("both", "access_token", cc("comments:read reports:read"))
	get("id_token", "id_token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {webtest.AlicePassword},
		"scope": {"openid comments:read"}})
	// Issued an hour ago, so its 15 minutes are over now.
	clock.Advance(-time.Hour)
	get("expired", "access_token", cc("reports:read", reportsAPI))
	clock.Advance(time.Hour)
	return rs
}

// refusal is the check an API must refuse token on ("aud", "exp" or
// "alg"; "any" where libraries differ in which check comes first), or ""
// for a token it must take. The ID token fails on alg first: RS256
// (keys.id_token_algorithm) where ES256 is configured.
func refusal(api, token string) string {
	switch {
	case token == "both" || token == api:
		return ""
	case token == "expired" && api == "reports":
		return "exp"
	case token == "expired":
		return "any"
	case token == "id_token":
		return "alg"
	}
	return "aud"
}

// TestRSInteropGo: github.com/auth0/go-jwt-middleware/v2, its validator
// fed by its JWKS provider from the issuer's discovery, in front of a
// handler on an httptest server per API.
func TestRSInteropGo(t *testing.T) {
	rs := newRSInterop(t)
	issuer, err := url.Parse(rs.srv.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	// What each check's failure says (go-jose's claim errors).
	says := map[string]string{"aud": "(aud)", "exp": "(exp)", "alg": "signing method is invalid", "any": ""}
	for _, api := range rs.apis {
		t.Run(api.name, func(t *testing.T) {
			keys := jwks.NewCachingProvider(issuer, 5*time.Minute)
			v, err := validator.New(keys.KeyFunc, validator.ES256, rs.srv.Issuer, []string{api.audience})
			if err != nil {
				t.Fatal(err)
			}
			// The default answer (401, a fixed body) with the reason beside it.
			explain := jwtmiddleware.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
				w.Header().Set("X-Refusal", err.Error())
				jwtmiddleware.DefaultErrorHandler(w, r, err)
			})
			srv := httptest.NewServer(jwtmiddleware.New(v.ValidateToken, explain).CheckJWT(http.HandlerFunc(
				func(w http.ResponseWriter, r *http.Request) {
					claims := r.Context().Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims)
					_ = json.NewEncoder(w).Encode(claims.RegisteredClaims)
				})))
			defer srv.Close()
			for name, tok := range rs.tokens {
				status, why, body := getWithBearer(t, srv.URL, tok)
				want := refusal(api.name, name)
				switch {
				case want == "" && (status != http.StatusOK || !strings.Contains(body, fmt.Sprintf("%q", api.audience))):
					t.Errorf("%s token: %d %s %s, want taken", name, status, why, body)
				case want != "" && (status != http.StatusUnauthorized || !strings.Contains(why, says[want])):
					t.Errorf("%s token: %d %q, want 401 on %s", name, status, why, want)
				}
			}
		})
	}
}

// getWithBearer GETs target with tok and returns the status, the
// X-Refusal header and the body.
func getWithBearer(t *testing.T, target, tok string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	_, _ = body.ReadFrom(res.Body)
	return res.StatusCode, res.Header.Get("X-Refusal"), body.String()
}

// rsAnswer is one express app's answer to one token (resource.mjs).
type rsAnswer struct {
	Status          int    `json:"status"`
	WWWAuthenticate string `json:"www_authenticate"`
	Body            struct {
		Aud     any    `json:"aud"`
		Typ     string `json:"typ"`
		Message string `json:"message"`
	} `json:"body"`
}

// TestRSInteropExpress: express-oauth2-jwt-bearer (Auth0's RFC 9068
// middleware for express, strict mode) in front of an express app per
// API, through interop/js/resource.mjs.
func TestRSInteropExpress(t *testing.T) {
	node := requireNode(t)
	rs := newRSInterop(t)
	tokens, err := json.Marshal(rs.tokens)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(jsInteropDir, "resource.mjs"), rs.srv.Issuer)
	cmd.Env = append(os.Environ(), "OAUTH2D_RS_AUDIENCES="+rs.apis[0].audience+" "+rs.apis[1].audience,
		"OAUTH2D_RS_TOKENS="+string(tokens))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var out struct {
		Error string `json:"error"`
		Apps  []struct {
			Mode     string              `json:"mode"`
			Audience string              `json:"audience"`
			Answers  map[string]rsAnswer `json:"answers"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.Error != "" || runErr != nil {
		t.Fatalf("resource.mjs: %v %s (run: %v)\nstdout: %s\nstderr: %s", err, out.Error, runErr, stdout.Bytes(), stderr.Bytes())
	}
	// One app per API configured with issuer and jwksUri, then one with
	// issuerBaseURL for the first.
	modes := []string{"jwks_uri", "jwks_uri", "issuer_base_url"}
	if len(out.Apps) != len(modes) {
		t.Fatalf("resource.mjs ran %d apps, want %d: %s", len(out.Apps), len(modes), stdout.Bytes())
	}
	// What each check's failure says (the middleware's validators, and
	// jose's for exp).
	says := map[string]string{"aud": "'aud'", "exp": `"exp"`, "alg": "'alg'", "any": ""}
	for i, app := range out.Apps {
		api := rs.apis[i%len(rs.apis)]
		if app.Mode != modes[i] || app.Audience != api.audience {
			t.Fatalf("app %d is %s for %s", i, app.Mode, app.Audience)
		}
		t.Run(app.Mode+" "+api.name, func(t *testing.T) {
			for name := range rs.tokens {
				a, ok := app.Answers[name]
				want := refusal(api.name, name)
				if app.Mode == "issuer_base_url" && want != "exp" && want != "any" {
					// It takes discovery's id_token_signing_alg_values_supported
					// (RS256) for the access tokens' algorithms: every ES256
					// token fails on alg, whoever it is for (README).
					want = "alg"
				}
				switch {
				case !ok:
					t.Errorf("%s token: no answer", name)
				case want == "" && (a.Status != http.StatusOK || a.Body.Typ != "at+jwt" || !strings.Contains(fmt.Sprint(a.Body.Aud), api.audience)):
					t.Errorf("%s token: %+v, want taken", name, a)
				case want != "" && (a.Status != http.StatusUnauthorized || !strings.Contains(a.WWWAuthenticate, `error="invalid_token"`) ||
					!strings.Contains(a.Body.Message, says[want])):
					t.Errorf("%s token: %+v, want 401 invalid_token on %s", name, a, want)
				}
			}
		})
	}
}
