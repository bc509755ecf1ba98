package oauth_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// push posts params to the PAR endpoint as clientID (Basic when secret is
// set, else client_id in the body), with an optional DPoP proof.
func push(t *testing.T, s *webtest.Server, params url.Values, clientID, secret, proof string) answer {
	t.Helper()
	body := url.Values{}
	for k, v := range params {
		body[k] = v
	}
	if secret == "" {
		body.Set("client_id", clientID)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+oauth.PushedAuthorizationPath, strings.NewReader(body.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return send(t, req)
}

// pushedRequest is the authorization request a client pushes: everything
// but client_id, which the browser sends with the request_uri.
func pushedRequest(clientID, scope string) (url.Values, string) {
	params, verifier := webtest.CodeRequest(clientID, scope)
	params.Del("client_id")
	return params, verifier
}

func TestPAREndToEnd(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	b := s.NewBrowser(t)
	params, verifier := pushedRequest(webtest.ThirdPartyID, "openid profile")
	res := push(t, s, params, webtest.ThirdPartyID, webtest.ThirdPartySecret, "")
	uri := res.str("request_uri")
	if res.status != http.StatusCreated || !strings.HasPrefix(uri, oauth.RequestURIPrefix) || res.body["expires_in"] != 60.0 {
		t.Fatalf("push: %d %v", res.status, res.body)
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.header.Get("Cache-Control"))
	}
	// Only client_id and request_uri are read from the browser: the rest
	// of this URL is ignored.
	cb := codeFor(t, s, b, url.Values{"client_id": {webtest.ThirdPartyID}, "request_uri": {uri},
		"scope": {"admin"}, "redirect_uri": {"https://evil.example/cb"}, "state": {"forged"}})
	if cb.Get("state") != params.Get("state") || cb.Get("code") == "" {
		t.Fatalf("callback = %v", cb)
	}
	tok := s.Exchange(t, cb.Get("code"), verifier, webtest.ThirdPartyID, webtest.ThirdPartySecret)
	if tok.Status != 200 || tok.Str("scope") != "openid profile" {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Raw)
	}

	t.Run("request_uri used twice", func(t *testing.T) {
		p := b.Authorize(url.Values{"client_id": {webtest.ThirdPartyID}, "request_uri": {uri}})
		if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
			t.Fatalf("got %d %s", p.Status, p.Header.Get("Location"))
		}
	})
	t.Run("request_uri of another client", func(t *testing.T) {
		params, verifier := pushedRequest(webtest.ThirdPartyID, "openid")
		uri := push(t, s, params, webtest.ThirdPartyID, webtest.ThirdPartySecret, "").str("request_uri")
		for _, other := range []string{webtest.FirstPartyID, webtest.PublicID, "no-such-client"} {
			p := b.Authorize(url.Values{"client_id": {other}, "request_uri": {uri}})
			if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
				t.Fatalf("client_id %s: got %d %s", other, p.Status, p.Header.Get("Location"))
			}
		}
		// Not spent (DESIGN §9.4): the client that pushed it still can.
		cb := codeFor(t, s, b, url.Values{"client_id": {webtest.ThirdPartyID}, "request_uri": {uri}})
		if cb.Get("code") == "" || cb.Get("state") != params.Get("state") {
			t.Fatalf("the pushing client after others' attempts: %v", cb)
		}
		if tok := s.Exchange(t, cb.Get("code"), verifier, webtest.ThirdPartyID, webtest.ThirdPartySecret); tok.Status != 200 {
			t.Fatalf("exchange: %d %s", tok.Status, tok.Raw)
		}
	})
	t.Run("unknown request_uri", func(t *testing.T) {
		p := b.Authorize(url.Values{"client_id": {webtest.ThirdPartyID}, "request_uri": {oauth.RequestURIPrefix + "nope"}})
		if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
			t.Fatalf("got %d", p.Status)
		}
	})
}

func TestPARExpired(t *testing.T) {
	s := webtest.New(t, webtest.Options{PARRequestURITTL: time.Second})
	params, _ := pushedRequest(webtest.ThirdPartyID, "openid")
	res := push(t, s, params, webtest.ThirdPartyID, webtest.ThirdPartySecret, "")
	if res.body["expires_in"] != 1.0 {
		t.Fatalf("push: %v", res.body)
	}
	time.Sleep(1100 * time.Millisecond)
	p := s.NewBrowser(t).Authorize(url.Values{"client_id": {webtest.ThirdPartyID}, "request_uri": {res.str("request_uri")}})
	if p.Status != http.StatusBadRequest || p.Header.Get("Location") != "" {
		t.Fatalf("expired request_uri: %d", p.Status)
	}
}

// TestPARErrorsAreJSON: the PAR endpoint validates as the authorization
// endpoint does, answering with RFC 6749 §5.2 bodies, never redirects.
func TestPARErrorsAreJSON(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	good, _ := pushedRequest(webtest.ThirdPartyID, "openid")
	with := func(k, v string) url.Values {
		p := url.Values{}
		for key, vals := range good {
			p[key] = vals
		}
		if v == "" {
			p.Del(k)
		} else {
			p.Set(k, v)
		}
		return p
	}
	cases := []struct {
		name           string
		params         url.Values
		client, secret string
		status         int
		code           string
	}{
		{"unregistered redirect_uri", with("redirect_uri", "https://evil.example/cb"), webtest.ThirdPartyID, webtest.ThirdPartySecret, 400, "invalid_request"},
		{"unknown scope", with("scope", "openid nonsense"), webtest.ThirdPartyID, webtest.ThirdPartySecret, 400, "invalid_scope"},
		{"no PKCE for a public client", with("code_challenge", ""), webtest.PublicID, "", 400, "invalid_request"},
		{"request_uri pushed", with("request_uri", oauth.RequestURIPrefix+"x"), webtest.ThirdPartyID, webtest.ThirdPartySecret, 400, "invalid_request"},
		{"another client_id in the body", with("client_id", webtest.FirstPartyID), webtest.ThirdPartyID, webtest.ThirdPartySecret, 400, "invalid_request"},
		{"wrong secret", good, webtest.ThirdPartyID, "wrong-secret-0123456789", 401, "invalid_client"},
		{"unsupported response_type", with("response_type", "token"), webtest.ThirdPartyID, webtest.ThirdPartySecret, 400, "unsupported_response_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := push(t, s, tc.params, tc.client, tc.secret, "")
			if res.status != tc.status || res.str("error") != tc.code || res.header.Get("Location") != "" {
				t.Fatalf("got %d %v, want %d %s", res.status, res.body, tc.status, tc.code)
			}
		})
	}
}

func TestPARRequired(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	c, err := s.Store.GetClient(t.Context(), webtest.ThirdPartyID)
	if err != nil {
		t.Fatal(err)
	}
	c.RequirePushedAuthorizationRequests = true
	if err := s.Store.UpsertClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	b := s.NewBrowser(t)
	params, _ := webtest.CodeRequest(webtest.ThirdPartyID, "openid")
	cb := s.Callback(t, b.Authorize(params))
	if cb.Get("error") != "invalid_request" || cb.Get("state") != params.Get("state") {
		t.Fatalf("unpushed request of a PAR client: %v", cb)
	}
	pushed, _ := pushedRequest(webtest.ThirdPartyID, "openid")
	uri := push(t, s, pushed, webtest.ThirdPartyID, webtest.ThirdPartySecret, "").str("request_uri")
	if cb := codeFor(t, s, b, url.Values{"client_id": {webtest.ThirdPartyID}, "request_uri": {uri}}); cb.Get("code") == "" {
		t.Fatalf("pushed request of a PAR client: %v", cb)
	}
}

// TestPARWithDPoP: a proof at the PAR endpoint binds the code to its key
// (RFC 9449 §10.1), and pushes of public clients are bounded per address.
func TestPARWithDPoP(t *testing.T) {
	s := webtest.New(t, webtest.Options{PARPublicPerIP: 3})
	c := &dpopClient{t: t, s: s, key: dpoptest.NewKey(t)}
	parProof := func(k *dpoptest.Key) string {
		return k.Proof(t, dpoptest.For("POST", s.Issuer+oauth.PushedAuthorizationPath))
	}
	b := s.NewBrowser(t)
	redeem := func(bareProof bool, key *dpoptest.Key) answer {
		params, verifier := pushedRequest(webtest.PublicID, "openid profile")
		uri := push(t, s, params, webtest.PublicID, "", parProof(c.key)).str("request_uri")
		cb := codeFor(t, s, b, url.Values{"client_id": {webtest.PublicID}, "request_uri": {uri}})
		k := &dpopClient{t: t, s: s, key: key}
		return k.token(url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")},
			"redirect_uri": {s.RedirectURI}, "code_verifier": {verifier}}, bareProof)
	}
	if r := redeem(false, dpoptest.NewKey(t)); r.str("error") != "invalid_grant" {
		t.Fatalf("code pushed with one key, redeemed with another: %d %v", r.status, r.body)
	}
	if r := redeem(false, c.key); r.status != 200 || r.str("token_type") != "DPoP" {
		t.Fatalf("redeemed with the pushed key: %d %v", r.status, r.body)
	}
	params, _ := pushedRequest(webtest.PublicID, "openid")
	params.Set("dpop_jkt", dpoptest.NewKey(t).Thumbprint(t))
	if r := push(t, s, params, webtest.PublicID, "", parProof(c.key)); r.str("error") != "invalid_dpop_proof" {
		t.Fatalf("dpop_jkt of another key than the proof's: %d %v", r.status, r.body)
	}
	// Three pushes so far from this address; the budget is 3 a minute.
	params, _ = pushedRequest(webtest.PublicID, "openid")
	if r := push(t, s, params, webtest.PublicID, "", ""); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("fourth public push in a minute: %d %v", r.status, r.body)
	}
	// Confidential clients are not bounded by it.
	params, _ = pushedRequest(webtest.ThirdPartyID, "openid")
	if r := push(t, s, params, webtest.ThirdPartyID, webtest.ThirdPartySecret, ""); r.status != http.StatusCreated {
		t.Fatalf("confidential push: %d %v", r.status, r.body)
	}
}

func TestPARDiscovery(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	res, err := http.Get(s.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var md map[string]any
	_ = json.NewDecoder(res.Body).Decode(&md)
	if md["pushed_authorization_request_endpoint"] != s.Issuer+oauth.PushedAuthorizationPath {
		t.Fatalf("pushed_authorization_request_endpoint = %v", md["pushed_authorization_request_endpoint"])
	}
	if _, ok := md["require_pushed_authorization_requests"]; ok {
		t.Errorf("require_pushed_authorization_requests advertised while false: %v", md["require_pushed_authorization_requests"])
	}
}

// A pushed request's short lifetime bounds its request_uri, not the
// sign-in it starts: the login page stays usable for AuthRequestTTL.
func TestPARSignInOutlivesRequestURI(t *testing.T) {
	s := webtest.New(t, webtest.Options{PARRequestURITTL: time.Second})
	b := s.NewBrowser(t)
	params, verifier := pushedRequest(webtest.ThirdPartyID, "openid")
	uri := push(t, s, params, webtest.ThirdPartyID, webtest.ThirdPartySecret, "").str("request_uri")
	login := b.Authorize(url.Values{"client_id": {webtest.ThirdPartyID}, "request_uri": {uri}})
	if !strings.Contains(login.Body, `name="password"`) {
		t.Fatalf("want the login page, got %d", login.Status)
	}
	time.Sleep(1100 * time.Millisecond)
	p := b.SubmitLogin(login, "alice", webtest.AlicePassword)
	if strings.Contains(p.Body, `name="decision"`) {
		p = b.SubmitConsent(p, "allow")
	}
	cb := s.Callback(t, p)
	if tok := s.Exchange(t, cb.Get("code"), verifier, webtest.ThirdPartyID, webtest.ThirdPartySecret); tok.Status != 200 {
		t.Fatalf("exchange: %d %s", tok.Status, tok.Raw)
	}
}

// Browsers racing to open one request_uri, most of them naming another
// client: those are refused without spending it, and of the ones naming
// the client that pushed it exactly one gets the sign-in (RFC 9126 §4).
func TestPARRaceWithWrongClients(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	params, _ := pushedRequest(webtest.ThirdPartyID, "openid")
	uri := push(t, s, params, webtest.ThirdPartyID, webtest.ThirdPartySecret, "").str("request_uri")
	const n = 24
	status := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		clientID := webtest.FirstPartyID
		if i%4 == 0 {
			clientID = webtest.ThirdPartyID
		}
		wg.Go(func() {
			<-start
			q := url.Values{"client_id": {clientID}, "request_uri": {uri}}
			// A browser of its own, not following the redirect to the
			// login page: that redirect is the sign-in starting.
			res, err := s.NewBrowser(t).Client.Get(s.URL + oauth.AuthorizePath + "?" + q.Encode())
			if err != nil {
				errs[i] = err
				return
			}
			status[i] = res.StatusCode
			errs[i] = res.Body.Close()
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	wins := 0
	for i, st := range status {
		switch {
		case st == http.StatusFound || st == http.StatusSeeOther:
			if i%4 != 0 {
				t.Errorf("another client (racer %d) started the sign-in", i)
			}
			wins++
		case st != http.StatusBadRequest:
			t.Errorf("racer %d: status %d, want 400", i, st)
		}
	}
	if wins != 1 {
		t.Fatalf("%d browsers started the sign-in, want 1", wins)
	}
}
