package oauth_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/oauth2d/oauth2d/internal/config"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/web/webtest"
)

// regServer is a server with registration in mode, scopes openid profile
// offline_access, no per-address limit unless perIP.
func regServer(t *testing.T, mode string, perIP, maxClients int, iat ...string) *webtest.Server {
	t.Helper()
	reg := config.Registration{Mode: mode, Scopes: []string{"openid", "profile", "offline_access"}, PerIP: perIP, MaxClients: maxClients}
	for _, tok := range iat {
		sum := sha256.Sum256([]byte(tok))
		reg.InitialAccessTokenSHA256 = append(reg.InitialAccessTokenSHA256, hex.EncodeToString(sum[:]))
	}
	return webtest.New(t, webtest.Options{Registration: &reg})
}

type regAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a regAnswer) str(k string) string { s, _ := a.body[k].(string); return s }

func regDo(t *testing.T, s *webtest.Server, method, path, bearer, contentType string, body []byte) regAnswer {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := regAnswer{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	if a.status >= 500 {
		t.Fatalf("%s %s answered %d: %s", method, path, a.status, raw)
	}
	return a
}

func register(t *testing.T, s *webtest.Server, bearer string, md any) regAnswer {
	t.Helper()
	body, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	return regDo(t, s, http.MethodPost, oauth.RegistrationPath, bearer, "application/json", body)
}

func TestRegisterOpen(t *testing.T) {
	s := regServer(t, config.RegistrationOpen, 0, 100)
	a := register(t, s, "", map[string]any{
		"redirect_uris": []string{s.RedirectURI}, "client_name": "Photo Printer", "scope": "openid profile",
		"grant_types": []string{"authorization_code", "refresh_token"}, "logo_uri": "https://printer.example/logo.png",
		"some_extension": map[string]any{"ignored": true},
	})
	if a.status != http.StatusCreated {
		t.Fatalf("register: %d %s", a.status, a.raw)
	}
	for _, k := range []string{"client_id", "client_secret", "registration_access_token", "registration_client_uri"} {
		if a.str(k) == "" {
			t.Fatalf("answer lacks %s: %s", k, a.raw)
		}
	}
	if a.body["client_secret_expires_at"] != float64(0) || a.body["client_id_issued_at"] == nil ||
		a.str("token_endpoint_auth_method") != "client_secret_basic" || a.str("scope") != "openid profile" {
		t.Fatalf("answer: %s", a.raw)
	}
	if got := a.header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q", got)
	}
	id := a.str("client_id")
	cl, err := s.Store.GetClient(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !cl.SelfRegistered || cl.FirstParty || cl.RegistrationTokenHash == "" || strings.Contains(cl.RegistrationTokenHash, a.str("registration_access_token")) ||
		cl.SecretHash == "" || strings.Contains(cl.SecretHash, a.str("client_secret")) || cl.LogoURI != "https://printer.example/logo.png" {
		t.Fatalf("stored %+v", cl)
	}
	if a.str("registration_client_uri") != s.Issuer+oauth.RegistrationPath+"/"+id {
		t.Fatalf("registration_client_uri %s", a.str("registration_client_uri"))
	}
	// The client works: a code flow with consent, its secret at the token endpoint.
	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(id, "openid profile")
	consent := b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword)
	cb := s.Callback(t, b.SubmitConsent(consent, "allow"))
	tok := s.Exchange(t, cb.Get("code"), verifier, id, a.str("client_secret"))
	if tok.Status != 200 || tok.Str("scope") != "openid profile" {
		t.Fatalf("token: %d %s", tok.Status, tok.Raw)
	}

	// A public client with no scope gets registration.scopes.
	pub := register(t, s, "", map[string]any{"redirect_uris": []string{s.RedirectURI}, "token_endpoint_auth_method": "none"})
	if pub.status != http.StatusCreated || pub.str("client_secret") != "" || pub.body["client_secret_expires_at"] != nil ||
		pub.str("scope") != "openid profile offline_access" {
		t.Fatalf("public registration: %d %s", pub.status, pub.raw)
	}
	// Discovery names the endpoint.
	md := regDo(t, s, http.MethodGet, oauth.OAuthMetadataPath, "", "", nil)
	if md.str("registration_endpoint") != s.Issuer+oauth.RegistrationPath {
		t.Fatalf("metadata registration_endpoint = %q", md.str("registration_endpoint"))
	}
}

func TestRegisterOffByDefault(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	if a := register(t, s, "", map[string]any{"redirect_uris": []string{s.RedirectURI}}); a.status != http.StatusNotFound {
		t.Fatalf("register with registration off: %d %s", a.status, a.raw)
	}
	md := regDo(t, s, http.MethodGet, oauth.OAuthMetadataPath, "", "", nil)
	if _, ok := md.body["registration_endpoint"]; ok {
		t.Fatalf("metadata advertises registration while it is off: %s", md.raw)
	}
}

func TestRegisterRefusals(t *testing.T) {
	s := regServer(t, config.RegistrationOpen, 0, 100)
	redirect := []string{s.RedirectURI}
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantError   string
	}{
		{"body too large", "application/json", `{"redirect_uris":["` + strings.Repeat("a", 17<<10) + `"]}`, 413, "invalid_request"},
		{"not json content type", "application/x-www-form-urlencoded", `redirect_uris=x`, 400, "invalid_client_metadata"},
		{"not an object", "application/json", `[1,2]`, 400, "invalid_client_metadata"},
		{"wrong type", "application/json", `{"redirect_uris":"https://a.example/cb"}`, 400, "invalid_client_metadata"},
		{"two objects", "application/json", `{"redirect_uris":[]} {}`, 400, "invalid_client_metadata"},
		{"no redirect uri", "application/json", `{}`, 400, "invalid_redirect_uri"},
		{"http redirect elsewhere", "application/json", `{"redirect_uris":["http://evil.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"javascript redirect", "application/json", `{"redirect_uris":["javascript:alert(1)"]}`, 400, "invalid_redirect_uri"},
		{"fragment redirect", "application/json", `{"redirect_uris":["https://a.example/cb#x"]}`, 400, "invalid_redirect_uri"},
		{"password grant", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"grant_types":["authorization_code","password"]}`, 400, "invalid_client_metadata"},
		{"client credentials", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"grant_types":["authorization_code","client_credentials"]}`, 400, "invalid_client_metadata"},
		{"implicit", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"response_types":["token"]}`, 400, "invalid_client_metadata"},
		{"admin scope", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"scope":"openid admin"}`, 400, "invalid_client_metadata"},
		{"scope beyond registration.scopes", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"scope":"openid comments:write"}`, 400, "invalid_client_metadata"},
		{"private_key_jwt", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"token_endpoint_auth_method":"private_key_jwt"}`, 400, "invalid_client_metadata"},
		{"jwks", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"jwks":{"keys":[]}}`, 400, "invalid_client_metadata"},
		{"software statement", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"software_statement":"eyJ.x.y"}`, 400, "unapproved_software_statement"},
		{"bidi client name", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"client_name":"Bank\u202e"}`, 400, "invalid_client_metadata"},
		{"logo over http", "application/json", `{"redirect_uris":["` + redirect[0] + `"],"logo_uri":"http://evil.example/l.png"}`, 400, "invalid_client_metadata"},
		{"too many redirect uris", "application/json", `{"redirect_uris":["https://a.example/1","https://a.example/2","https://a.example/3","https://a.example/4","https://a.example/5","https://a.example/6","https://a.example/7","https://a.example/8","https://a.example/9"]}`, 400, "invalid_redirect_uri"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := regDo(t, s, http.MethodPost, oauth.RegistrationPath, "", tc.contentType, []byte(tc.body))
			if a.status != tc.wantStatus || a.str("error") != tc.wantError {
				t.Fatalf("%d %s, want %d %s", a.status, a.raw, tc.wantStatus, tc.wantError)
			}
		})
	}
	if n, err := s.Store.SelfRegisteredClients(t.Context()); err != nil || n != 0 {
		t.Fatalf("refused registrations stored %d clients (%v)", n, err)
	}
}

func TestRegisterInitialAccessToken(t *testing.T) {
	s := regServer(t, config.RegistrationIAT, 0, 100, "first-initial-token", "second-initial-token")
	md := map[string]any{"redirect_uris": []string{s.RedirectURI}, "token_endpoint_auth_method": "none"}
	for _, bad := range []string{"", "wrong-token", strings.Repeat("x", 600)} {
		a := register(t, s, bad, md)
		if a.status != http.StatusUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("initial access token %.20q: %d %s %q", bad, a.status, a.raw, a.header.Get("WWW-Authenticate"))
		}
	}
	for _, good := range []string{"first-initial-token", "second-initial-token"} {
		if a := register(t, s, good, md); a.status != http.StatusCreated {
			t.Fatalf("initial access token %q: %d %s", good, a.status, a.raw)
		}
	}
}

func TestRegistrationManagement(t *testing.T) {
	s := regServer(t, config.RegistrationOpen, 0, 100)
	mk := func() regAnswer {
		a := register(t, s, "", map[string]any{"redirect_uris": []string{s.RedirectURI}, "scope": "openid profile offline_access",
			"grant_types": []string{"authorization_code", "refresh_token"}})
		if a.status != http.StatusCreated {
			t.Fatalf("register: %d %s", a.status, a.raw)
		}
		return a
	}
	a, other := mk(), mk()
	id, tok := a.str("client_id"), a.str("registration_access_token")
	path := oauth.RegistrationPath + "/" + id

	t.Run("refused tokens", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, token string
		}{
			{"no token", http.MethodGet, path, ""},
			{"wrong token", http.MethodGet, path, "nope"},
			{"B's token on A", http.MethodGet, path, other.str("registration_access_token")},
			{"B's token deletes A", http.MethodDelete, path, other.str("registration_access_token")},
			{"B's token updates A", http.MethodPut, path, other.str("registration_access_token")},
			{"A's token on B", http.MethodGet, oauth.RegistrationPath + "/" + other.str("client_id"), tok},
			{"an operator's client", http.MethodGet, oauth.RegistrationPath + "/" + webtest.ThirdPartyID, tok},
			{"unknown client", http.MethodGet, oauth.RegistrationPath + "/unknown", tok},
		} {
			body := []byte(`{"client_id":"` + id + `","redirect_uris":["` + s.RedirectURI + `"]}`)
			r := regDo(t, s, tc.method, tc.path, tc.token, "application/json", body)
			challenge := r.header.Get("WWW-Authenticate")
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(challenge, `Bearer realm=`) ||
				(tc.token != "") != strings.Contains(challenge, `error="invalid_token"`) {
				t.Fatalf("%s: %d %s challenge %q", tc.name, r.status, r.raw, challenge)
			}
		}
		if _, err := s.Store.GetClient(t.Context(), id); err != nil {
			t.Fatalf("A is gone after refused requests: %v", err)
		}
	})

	t.Run("read", func(t *testing.T) {
		r := regDo(t, s, http.MethodGet, path, tok, "", nil)
		if r.status != 200 || r.str("client_id") != id || r.str("client_secret") != "" || r.str("scope") != "openid profile offline_access" {
			t.Fatalf("read: %d %s", r.status, r.raw)
		}
	})

	// A grant made before the update and the delete.
	b := s.NewBrowser(t)
	params, verifier := webtest.CodeRequest(id, "openid offline_access")
	cb := s.Callback(t, b.SubmitConsent(b.SubmitLogin(b.Authorize(params), "alice", webtest.AlicePassword), "allow"))
	first := s.Exchange(t, cb.Get("code"), verifier, id, a.str("client_secret"))
	if first.Status != 200 || first.Str("refresh_token") == "" {
		t.Fatalf("token: %d %s", first.Status, first.Raw)
	}

	t.Run("update cannot escalate", func(t *testing.T) {
		for _, body := range []string{
			`{"client_id":"` + id + `","redirect_uris":["` + s.RedirectURI + `"],"scope":"openid admin"}`,
			`{"client_id":"` + id + `","redirect_uris":["` + s.RedirectURI + `"],"grant_types":["authorization_code","password"]}`,
			`{"client_id":"` + id + `","redirect_uris":["` + s.RedirectURI + `"],"grant_types":["authorization_code","client_credentials"]}`,
			`{"client_id":"` + id + `","redirect_uris":["` + s.RedirectURI + `"],"token_endpoint_auth_method":"none"}`,
			`{"client_id":"other","redirect_uris":["` + s.RedirectURI + `"]}`,
			`{"client_id":"` + id + `","client_secret":"not-the-secret","redirect_uris":["` + s.RedirectURI + `"]}`,
			`{"client_id":"` + id + `","redirect_uris":["http://evil.example/cb"]}`,
		} {
			r := regDo(t, s, http.MethodPut, path, tok, "application/json", []byte(body))
			if r.status != 400 {
				t.Fatalf("PUT %s: %d %s", body, r.status, r.raw)
			}
		}
		cl, err := s.Store.GetClient(t.Context(), id)
		if err != nil || !slices.Equal(cl.Scopes, []string{"openid", "profile", "offline_access"}) || cl.Public {
			t.Fatalf("a refused update changed the client: %+v %v", cl, err)
		}
	})

	t.Run("update", func(t *testing.T) {
		body := `{"client_id":"` + id + `","client_secret":"` + a.str("client_secret") + `","redirect_uris":["` + s.RedirectURI + `"],"scope":"openid offline_access","grant_types":["authorization_code","refresh_token"],"client_name":"Renamed"}`
		r := regDo(t, s, http.MethodPut, path, tok, "application/json", []byte(body))
		if r.status != 200 || r.str("scope") != "openid offline_access" || r.str("client_name") != "Renamed" {
			t.Fatalf("PUT: %d %s", r.status, r.raw)
		}
		cl, err := s.Store.GetClient(t.Context(), id)
		if err != nil || cl.Name != "Renamed" || !cl.SelfRegistered || cl.FirstParty {
			t.Fatalf("after PUT: %+v %v", cl, err)
		}
		// The old secret still authenticates the client.
		ref := s.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Str("refresh_token")}}, id, a.str("client_secret"))
		if ref.Status != 200 {
			t.Fatalf("refresh after PUT: %d %s", ref.Status, ref.Raw)
		}
		first = ref
	})

	t.Run("delete voids the grants", func(t *testing.T) {
		params, verifier := webtest.CodeRequest(id, "openid")
		cb := s.Callback(t, b.Follow(b.Authorize(params)))
		r := regDo(t, s, http.MethodDelete, path, tok, "", nil)
		if r.status != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", r.status, r.raw)
		}
		if _, err := s.Store.GetClient(t.Context(), id); err == nil {
			t.Fatal("client still stored after DELETE")
		}
		if n, _ := s.Store.SelfRegisteredClients(t.Context()); n != 1 {
			t.Fatalf("%d self-registered clients counted after one of two was deleted", n)
		}
		if ref, _ := s.TryPostToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Str("refresh_token")}}, id, a.str("client_secret")); ref.Status == 200 {
			t.Fatalf("refresh after DELETE: %s", ref.Raw)
		}
		if tok, _ := s.TryExchange(cb.Get("code"), verifier, id, a.str("client_secret")); tok.Status == 200 {
			t.Fatalf("code redeemed after DELETE: %s", tok.Raw)
		}
		if s.Active(t, first.Str("access_token")) {
			t.Fatal("access token still active after DELETE")
		}
		if r := regDo(t, s, http.MethodGet, path, tok, "", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("GET after DELETE: %d %s", r.status, r.raw)
		}
	})
}

// A self-registered client may authenticate with private_key_jwt (RFC
// 7523): it registers its keys, gets no secret, and its assertions (and
// only those its keys sign) authenticate it.
func TestRegisterPrivateKeyJWT(t *testing.T) {
	s := regServer(t, config.RegistrationOpen, 0, 100)
	jwks := json.RawMessage(pkJWKS(t, "ec"))
	a := register(t, s, "", map[string]any{"redirect_uris": []string{s.RedirectURI}, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})
	if a.status != http.StatusCreated || a.str("client_secret") != "" || a.str("token_endpoint_auth_method") != "private_key_jwt" || a.body["jwks"] == nil {
		t.Fatalf("register with keys: %d %s", a.status, a.raw)
	}
	id := a.str("client_id")
	revoke := func(key crypto.Signer, kid string) int {
		now := time.Now()
		claims := map[string]any{"iss": id, "sub": id, "aud": s.Issuer, "jti": secret.NewToken(16), "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
		form := url.Values{"token": {"not-a-token"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {sign(t, key, jose.ES256, kid, nil, claims)}}
		res, err := http.PostForm(s.URL+"/oauth2/revoke", form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := revoke(pkKeys()["ec"], "ec"); got != http.StatusOK {
		t.Errorf("an assertion signed with the registered key: %d, want 200", got)
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if got := revoke(stranger, "ec"); got != http.StatusUnauthorized {
		t.Errorf("an assertion signed with another key under the registered kid: %d, want 401", got)
	}
	for name, md := range map[string]map[string]any{
		"private_key_jwt without keys": {"redirect_uris": []string{s.RedirectURI}, "token_endpoint_auth_method": "private_key_jwt"},
		"keys without private_key_jwt": {"redirect_uris": []string{s.RedirectURI}, "token_endpoint_auth_method": "none", "jwks": jwks},
		"a private key in jwks":        {"redirect_uris": []string{s.RedirectURI}, "token_endpoint_auth_method": "private_key_jwt", "jwks": privateJWKS(t)},
	} {
		if a := register(t, s, "", md); a.status != http.StatusBadRequest || a.str("error") != "invalid_client_metadata" {
			t.Errorf("%s: %d %s, want invalid_client_metadata", name, a.status, a.raw)
		}
	}
}

// privateJWKS is a JWK Set holding a private key, which no registration
// may carry.
func privateJWKS(t *testing.T) json.RawMessage {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: "p", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
