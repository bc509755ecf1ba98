package oauth_test

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/dpop"
	"github.com/oauth2d/oauth2d/internal/dpop/dpoptest"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/ratelimit"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testredis"
	"github.com/oauth2d/oauth2d/internal/token"
)

func (s *server) verify(raw string) (*token.AccessClaims, error) {
	v, err := token.NewVerifier(s.Keys, s.Issuer, []string{s.Issuer + "/api"}, 0, time.Now)
	if err != nil {
		s.t.Fatal(err)
	}
	return v.VerifyAccess(raw)
}

// withDPoP turns DPoP on, its replay guard in the server's own Redis.
func withDPoP(nonces *dpop.Nonces, requirePublic bool) serverOption {
	return func(d *oauth.Deps, _ *ratelimit.Limits) {
		v, err := dpop.NewVerifier(dpop.Options{Replay: d.Store.(*storage.Store), Nonces: nonces})
		if err != nil {
			panic(err)
		}
		d.DPoP = v
		d.Config.DPoPRequiredForPublic = requirePublic
	}
}

// postProof is post with a DPoP header (none when proof is "").
func (s *server) postProof(path string, form url.Values, user, pass string, proofs ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return s.do(req)
}

func (s *server) tokenProof(key *dpoptest.Key) string {
	return key.Proof(s.t, dpoptest.For("POST", s.Issuer+oauth.TokenPath))
}

func passwordForm() url.Values {
	return url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}, "scope": {"openid offline_access"}}
}

func TestDPoPBindsAccessTokens(t *testing.T) {
	s := newServer(t, withDPoP(nil, false))
	key := dpoptest.NewKey(t)
	res := s.postProof(oauth.TokenPath, passwordForm(), firstPartyID, firstPartySecret, s.tokenProof(key))
	if res.Status != 200 || res.str("token_type") != "DPoP" {
		t.Fatalf("got %d %s, want a DPoP token", res.Status, res.Raw)
	}
	claims, err := s.verify(res.str("access_token"))
	if err != nil || claims.JKT != key.Thumbprint(t) {
		t.Fatalf("cnf.jkt = %+v, %v; want %s", claims, err, key.Thumbprint(t))
	}
	in := s.post(oauth.IntrospectionPath, url.Values{"token": {res.str("access_token")}}, serviceID, serviceSecret)
	cnf, _ := in.Body["cnf"].(map[string]any)
	if in.str("token_type") != "DPoP" || cnf["jkt"] != key.Thumbprint(t) {
		t.Fatalf("introspection = %s, want token_type DPoP and cnf.jkt", in.Raw)
	}
	// A confidential client's refresh token is not bound (RFC 9449 §5):
	// refreshing without a proof gives a bearer token.
	again := s.refresh(res.str("refresh_token"), firstPartyID, firstPartySecret)
	if again.Status != 200 || again.str("token_type") != "Bearer" {
		t.Fatalf("bearer refresh of a confidential client: %d %s", again.Status, again.Raw)
	}
	// Without a proof, nothing changes for anyone.
	if plain := s.passwordGrant(""); plain.str("token_type") != "Bearer" {
		t.Fatalf("token_type %q without a proof", plain.str("token_type"))
	}
}

// TestDPoPPublicRefreshBound: a public client's refresh tokens are bound
// to its key (issue 12 item 6: a bound refresh token used without a proof
// or with another key), and rotation keeps the binding.
func TestDPoPPublicRefreshBound(t *testing.T) {
	s := newServer(t, withDPoP(nil, false))
	key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	code, verifier := s.newCode(publicID, "openid offline_access", true)
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}, "client_id": {publicID}}
	res := s.postProof(oauth.TokenPath, f, "", "", s.tokenProof(key))
	if res.Status != 200 || res.str("token_type") != "DPoP" || res.str("refresh_token") == "" {
		t.Fatalf("code grant with DPoP: %d %s", res.Status, res.Raw)
	}
	rt := res.str("refresh_token")
	refresh := func(rt string, proofs ...string) response {
		return s.postProof(oauth.TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicID}}, "", "", proofs...)
	}
	wantError(t, refresh(rt), 400, "invalid_grant")
	wantError(t, refresh(rt, s.tokenProof(other)), 400, "invalid_grant")
	// The refused attempts left the family alone: the owner refreshes.
	next := refresh(rt, s.tokenProof(key))
	if next.Status != 200 || next.str("token_type") != "DPoP" {
		t.Fatalf("refresh with the bound key: %d %s", next.Status, next.Raw)
	}
	if c, err := s.verify(next.str("access_token")); err != nil || c.JKT != key.Thumbprint(t) {
		t.Fatalf("refreshed access token cnf.jkt = %+v, %v", c, err)
	}
	wantError(t, refresh(next.str("refresh_token")), 400, "invalid_grant")
	if again := refresh(next.str("refresh_token"), s.tokenProof(key)); again.Status != 200 {
		t.Fatalf("second refresh with the key: %d %s", again.Status, again.Raw)
	}
}

func TestDPoPTokenEndpointRefusals(t *testing.T) {
	s := newServer(t, withDPoP(nil, false))
	key := dpoptest.NewKey(t)
	replayed := s.tokenProof(key)
	if res := s.postProof(oauth.TokenPath, passwordForm(), firstPartyID, firstPartySecret, replayed); res.Status != 200 {
		t.Fatalf("first use: %d %s", res.Status, res.Raw)
	}
	cases := []struct {
		name   string
		proofs []string
	}{
		{"replayed proof", []string{replayed}},
		{"proof for another htu", []string{key.Proof(t, dpoptest.For("POST", s.Issuer+oauth.RevocationPath))}},
		{"proof for another htm", []string{key.Proof(t, dpoptest.For("GET", s.Issuer+oauth.TokenPath))}},
		{"old iat", []string{key.Proof(t, dpoptest.For("POST", s.Issuer+oauth.TokenPath).At(time.Now().Add(-time.Hour)))}},
		{"two DPoP headers", []string{s.tokenProof(key), s.tokenProof(key)}},
		{"alg none", []string{dpoptest.Raw(t, map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": key.Header(t)["jwk"]}, dpoptest.For("POST", s.Issuer+oauth.TokenPath), nil)}},
		{"iat a string", []string{key.SignClaims(t, map[string]any{"jti": rand.Text(), "htm": "POST", "htu": s.Issuer + oauth.TokenPath,
			"iat": strconv.FormatInt(time.Now().Unix(), 10)})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := s.postProof(oauth.TokenPath, passwordForm(), firstPartyID, firstPartySecret, tc.proofs...)
			wantError(t, res, 400, "invalid_dpop_proof")
		})
	}
}

func TestDPoPRequired(t *testing.T) {
	s := newServer(t, withDPoP(nil, true))
	key := dpoptest.NewKey(t)
	f := passwordForm()
	f.Set("client_id", publicID)
	wantError(t, s.postProof(oauth.TokenPath, f, "", ""), 400, "invalid_dpop_proof")
	if res := s.postProof(oauth.TokenPath, f, "", "", s.tokenProof(key)); res.Status != 200 || res.str("token_type") != "DPoP" {
		t.Fatalf("public client with a proof: %d %s", res.Status, res.Raw)
	}
	// Confidential clients are not concerned by the global setting...
	if res := s.postProof(oauth.TokenPath, passwordForm(), firstPartyID, firstPartySecret); res.Status != 200 {
		t.Fatalf("confidential client without a proof: %d %s", res.Status, res.Raw)
	}
	// ...unless registered with dpop_bound_access_tokens.
	c, err := s.Store.GetClient(t.Context(), firstPartyID)
	if err != nil {
		t.Fatal(err)
	}
	c.DPoPBoundAccessTokens = true
	if err := s.Store.UpsertClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	ok := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !ok; time.Sleep(20 * time.Millisecond) {
		ok = s.postProof(oauth.TokenPath, passwordForm(), firstPartyID, firstPartySecret).str("error") == "invalid_dpop_proof"
	}
	if !ok {
		t.Fatal("a client registered with dpop_bound_access_tokens got a token without a proof")
	}
}

func TestDPoPNonces(t *testing.T) {
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("n", 32)), time.Minute, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, withDPoP(nonces, false))
	key := dpoptest.NewKey(t)
	res := s.postProof(oauth.TokenPath, passwordForm(), firstPartyID, firstPartySecret, s.tokenProof(key))
	wantError(t, res, 400, "use_dpop_nonce")
	nonce := res.Header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	proof := key.Proof(t, dpoptest.For("POST", s.Issuer+oauth.TokenPath).WithNonce(nonce))
	if ok := s.postProof(oauth.TokenPath, passwordForm(), firstPartyID, firstPartySecret, proof); ok.Status != 200 || ok.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("with the nonce: %d %s (DPoP-Nonce %q)", ok.Status, ok.Raw, ok.Header.Get("DPoP-Nonce"))
	}
}

// TestDPoPCodeBinding: dpop_jkt binds the code (RFC 9449 §10).
func TestDPoPCodeBinding(t *testing.T) {
	s := newServer(t, withDPoP(nil, false))
	key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	bound := func() (string, string) {
		verifier := secret.NewToken(32)
		ac := &storage.AuthCode{ClientID: publicID, UserID: s.alice.ID, RedirectURI: redirectURI, Scope: []string{"openid"},
			AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Minute), DPoPJKT: key.Thumbprint(t), ClientGeneration: s.generation(publicID)}
		ac.CodeChallenge, ac.CodeChallengeMethod = challengeOf(verifier), "S256"
		code := secret.NewToken(32)
		if err := s.Store.SaveCode(t.Context(), secret.SHA256(code), ac); err != nil {
			t.Fatal(err)
		}
		return code, verifier
	}
	form := func(code, verifier string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
			"code_verifier": {verifier}, "client_id": {publicID}}
	}
	code, verifier := bound()
	wantError(t, s.postProof(oauth.TokenPath, form(code, verifier), "", "", s.tokenProof(other)), 400, "invalid_grant")
	code, verifier = bound()
	wantError(t, s.postProof(oauth.TokenPath, form(code, verifier), "", ""), 400, "invalid_grant")
	code, verifier = bound()
	if res := s.postProof(oauth.TokenPath, form(code, verifier), "", "", s.tokenProof(key)); res.Status != 200 {
		t.Fatalf("redeemed with the bound key: %d %s", res.Status, res.Raw)
	}
}

// A proof by another key, or none, does not use up a bound code: its
// key's holder redeems it afterwards, and such attempts after that are no
// replay revoking what it got (DESIGN §9.4).
func TestDPoPWrongKeyLeavesCode(t *testing.T) {
	s := newServer(t, withDPoP(nil, false))
	key, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	verifier := secret.NewToken(32)
	ac := &storage.AuthCode{ClientID: publicID, UserID: s.alice.ID, RedirectURI: redirectURI, Scope: []string{"openid"},
		AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Minute), DPoPJKT: key.Thumbprint(t),
		CodeChallenge: challengeOf(verifier), CodeChallengeMethod: "S256", ClientGeneration: s.generation(publicID)}
	code := secret.NewToken(32)
	if err := s.Store.SaveCode(t.Context(), secret.SHA256(code), ac); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}, "client_id": {publicID}}
	wrong := func() {
		t.Helper()
		wantError(t, s.postProof(oauth.TokenPath, form, "", "", s.tokenProof(other)), 400, "invalid_grant")
		wantError(t, s.postProof(oauth.TokenPath, form, "", ""), 400, "invalid_grant")
	}
	wrong()
	res := s.postProof(oauth.TokenPath, form, "", "", s.tokenProof(key))
	if res.Status != 200 {
		t.Fatalf("redeemed with the bound key after wrong keys: %d %s", res.Status, res.Raw)
	}
	wrong()
	if !s.active(res.str("access_token")) {
		t.Error("a wrong key's attempt revoked the access token")
	}
}

// withPublicProofLimit bounds public clients' proofs to perMinute per
// address, under the key prefix server.New gives that budget.
func withPublicProofLimit(perMinute int) serverOption {
	return func(d *oauth.Deps, _ *ratelimit.Limits) {
		st := d.Store.(*storage.Store)
		d.PublicProofLimiter = ratelimit.New(st.Redis(), st.Prefix()+"dpop:", ratelimit.Limits{PerIP: perMinute})
	}
}

// proofRecords counts the DPoP replay records (storage's dpop-jti: keys)
// of this server's prefix, on every node.
func (s *server) proofRecords() int {
	s.t.Helper()
	keys, err := testredis.Keys(s.t.Context(), s.Store.Redis(), s.Store.Prefix()+"dpop-jti:*")
	if err != nil {
		s.t.Fatal(err)
	}
	return len(keys)
}

// TestDPoPPublicProofLimit: a public client authenticates with its id
// alone, so anyone can send proofs in its name, and each is recorded
// before the grant is looked at. Past the per-address budget the token
// endpoint answers 429 and records nothing (DESIGN §4: nothing unbounded
// for anonymous callers); confidential clients and bearer requests are
// not counted.
func TestDPoPPublicProofLimit(t *testing.T) {
	const budget = 3
	s := newServer(t, withDPoP(nil, false), withPublicProofLimit(budget))
	refresh := func(user, pass string, proofs ...string) response {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"garbage.garbage"}}
		if user == "" {
			f.Set("client_id", publicID)
		}
		return s.postProof(oauth.TokenPath, f, user, pass, proofs...)
	}
	// Each request a fresh key and jti, as an attacker would send.
	for i := range budget {
		wantError(t, refresh("", "", s.tokenProof(dpoptest.NewKey(t))), 400, "invalid_grant")
		if n := s.proofRecords(); n != i+1 {
			t.Fatalf("after %d public proofs, %d replay records", i+1, n)
		}
	}
	res := refresh("", "", s.tokenProof(dpoptest.NewKey(t)))
	wantError(t, res, http.StatusTooManyRequests, "invalid_request")
	if ra := res.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want a positive number of seconds", ra)
	}
	if n := s.proofRecords(); n != budget {
		t.Fatalf("a throttled proof was recorded: %d replay records, want %d", n, budget)
	}
	// Bearer requests of the public client store nothing and are not
	// counted; a confidential client was authenticated and is not either.
	wantError(t, refresh("", ""), 400, "invalid_grant")
	for range budget + 1 {
		wantError(t, refresh(thirdPartyID, thirdPartySecret, s.tokenProof(dpoptest.NewKey(t))), 400, "invalid_grant")
	}
	if n := s.proofRecords(); n != 2*budget+1 {
		t.Fatalf("%d replay records, want %d: the confidential client's proofs are checked as before", n, 2*budget+1)
	}
}
