package oauth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
	"github.com/prometheus/client_golang/prometheus"
)

// dpopClient is a public client holding a DPoP key, speaking HTTP as a
// client library would, with proofs built by go-jose (dpoptest).
type dpopClient struct {
	t   *testing.T
	s   *webtest.Server
	key *dpoptest.Key
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a answer) str(name string) string { v, _ := a.body[name].(string); return v }

// send is how the webtest-based tests put a request on the wire: as a
// client library would, with the default client, reading back status,
// header and (when it is JSON) body.
func send(t *testing.T, req *http.Request) answer {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := answer{status: res.StatusCode, header: res.Header}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// token posts form to the token endpoint with a proof unless bare.
func (c *dpopClient) token(form url.Values, bare bool) answer {
	c.t.Helper()
	form.Set("client_id", webtest.PublicID)
	req, _ := http.NewRequest(http.MethodPost, c.s.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !bare {
		req.Header.Set("DPoP", c.key.Proof(c.t, dpoptest.For("POST", c.s.Issuer+"/oauth2/token")))
	}
	return send(c.t, req)
}

// get calls a protected resource with tok under scheme, with a proof by
// key (none when key is nil).
func (c *dpopClient) get(path, scheme, tok string, key *dpoptest.Key) answer {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.s.URL+path, nil)
	req.Header.Set("Authorization", scheme+" "+tok)
	if key != nil {
		req.Header.Set("DPoP", key.Proof(c.t, dpoptest.For("GET", c.s.Issuer+path).WithToken(tok)))
	}
	return send(c.t, req)
}

// TestDPoPEndToEnd drives the whole server through the real route table:
// discovery, code + PKCE + dpop_jkt, a DPoP-bound token, the API and
// userinfo with proofs, refusal as a bearer token and without a proof,
// and refresh bound to the key.
func TestDPoPEndToEnd(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	c := &dpopClient{t: t, s: s, key: dpoptest.NewKey(t)}
	thief := dpoptest.NewKey(t)

	res, err := http.Get(s.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Algs []string `json:"dpop_signing_alg_values_supported"`
	}
	_ = json.NewDecoder(res.Body).Decode(&md)
	res.Body.Close()
	if !slices.Contains(md.Algs, "ES256") || slices.Contains(md.Algs, "HS256") {
		t.Fatalf("dpop_signing_alg_values_supported = %v", md.Algs)
	}

	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(webtest.PublicID, "openid profile offline_access")
	params.Set("dpop_jkt", c.key.Thumbprint(t))
	cb := codeFor(t, s, b, params)
	tok := c.token(url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
		"redirect_uri": {s.RedirectURI}, "code_verifier": {verifier}}, false)
	if tok.status != 200 || tok.str("token_type") != "DPoP" || tok.str("refresh_token") == "" {
		t.Fatalf("code exchange with DPoP: %d %v", tok.status, tok.body)
	}
	at := tok.str("access_token")

	if r := c.get("/api/v1/me", "DPoP", at, c.key); r.status != 200 || r.str("sub") != s.Alice.ID {
		t.Fatalf("API with a proof: %d %v", r.status, r.body)
	}
	if r := c.get("/oauth2/userinfo", "DPoP", at, c.key); r.status != 200 || r.str("sub") != s.Alice.ID {
		t.Fatalf("userinfo with a proof: %d %v", r.status, r.body)
	}
	for name, r := range map[string]answer{
		"as a bearer token":    c.get("/api/v1/me", "Bearer", at, nil),
		"without a proof":      c.get("/api/v1/me", "DPoP", at, nil),
		"with a thief's proof": c.get("/api/v1/me", "DPoP", at, thief),
	} {
		if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "DPoP ") {
			t.Errorf("%s: %d %v %q, want 401 with a DPoP challenge", name, r.status, r.body, r.header.Get("WWW-Authenticate"))
		}
	}

	rt := tok.str("refresh_token")
	if r := c.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, true); r.str("error") != "invalid_grant" {
		t.Fatalf("refresh without a proof: %d %v", r.status, r.body)
	}
	next := c.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, false)
	if next.status != 200 || next.str("token_type") != "DPoP" {
		t.Fatalf("refresh with DPoP: %d %v", next.status, next.body)
	}
	if r := c.get("/api/v1/me", "DPoP", next.str("access_token"), c.key); r.status != 200 {
		t.Fatalf("refreshed token at the API: %d %v", r.status, r.body)
	}

	t.Run("a code bound to another key", func(t *testing.T) {
		params, verifier := webtest.CodeRequest(webtest.PublicID, "openid")
		params.Set("dpop_jkt", thief.Thumbprint(t))
		cb := codeFor(t, s, b, params)
		r := c.token(url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
			"redirect_uri": {s.RedirectURI}, "code_verifier": {verifier}}, false)
		if r.str("error") != "invalid_grant" {
			t.Fatalf("got %d %v, want invalid_grant", r.status, r.body)
		}
	})
	t.Run("a malformed dpop_jkt", func(t *testing.T) {
		params, _ := webtest.CodeRequest(webtest.PublicID, "openid")
		params.Set("dpop_jkt", "not-a-thumbprint")
		cb := s.Callback(t, b.Authorize(params))
		if cb.Get("error") != "invalid_request" || cb.Get("state") != params.Get("state") {
			t.Fatalf("callback = %v", cb)
		}
	})
}

// TestDPoPPublicProofLimitWired: dpop.public_per_ip reaches the token
// endpoint of the server cmd/oauth2d builds; TestDPoPPublicProofLimit
// has the details.
func TestDPoPPublicProofLimitWired(t *testing.T) {
	metrics := prometheus.NewRegistry()
	s := webtest.New(t, webtest.Options{DPoPPublicPerIP: 2, Metrics: metrics})
	bad := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"garbage.garbage"}}
	for range 2 {
		c := &dpopClient{t: t, s: s, key: dpoptest.NewKey(t)}
		if r := c.token(bad, false); r.status != http.StatusBadRequest || r.str("error") != "invalid_grant" {
			t.Fatalf("public proof within the budget: %d %v", r.status, r.body)
		}
	}
	c := &dpopClient{t: t, s: s, key: dpoptest.NewKey(t)}
	if r := c.token(bad, false); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("third public proof in a minute, budget 2: %d %v", r.status, r.body)
	}
	if n := counterValue(t, metrics, "oauth2d_public_client_throttled_total", "budget", "dpop"); n != 1 {
		t.Fatalf("oauth2d_public_client_throttled_total{budget=dpop} = %v, want 1", n)
	}
}

// counterValue reads the counter name{label=value} from reg (0 when it
// has no such series).
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
