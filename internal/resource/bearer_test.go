package resource_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/token"
)

var b64 = base64.RawURLEncoding

func challenge(extra string) string {
	if extra == "" {
		return `Bearer realm="` + resourcetest.Issuer + `"`
	}
	return `Bearer realm="` + resourcetest.Issuer + `", ` + extra
}

const (
	invalidToken = `error="invalid_token", error_description="the access token is invalid or expired"`
	revokedToken = `error="invalid_token", error_description="the access token has been revoked"`
	badRequest   = `error="invalid_request", error_description="the Authorization header is malformed"`
	queryToken   = `error="invalid_request", error_description="access tokens are accepted only in the Authorization header"`
)

func TestBearerErrors(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	valid, _ := h.UserToken(t, h.Alice, resourcetest.AllScopes...)
	noProfile, _ := h.UserToken(t, h.Alice, "comments:read")
	revoked, revokedClaims := h.UserToken(t, h.Alice, resourcetest.AllScopes...)
	if err := h.Store.RevokeJTI(h.Ctx, revokedClaims.JTI, revokedClaims.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	h.WaitStatus(t, resourcetest.MePath, revoked, http.StatusUnauthorized) // published, not applied locally
	tests := []struct {
		name      string
		req       func() *http.Request
		status    int
		challenge string // "" means no WWW-Authenticate at all
		errorCode string // the body's "error", "" for no body
	}{
		{"no credentials", func() *http.Request { return get("") }, 401, challenge(""), ""},
		{"another scheme", func() *http.Request {
			r := get("")
			r.SetBasicAuth("alice", "pw")
			return r
		}, 401, challenge(""), ""},
		{"bearer without token", func() *http.Request { return withAuth(get(""), "Bearer ") }, 400, challenge(badRequest), "invalid_request"},
		{"two authorization headers", func() *http.Request {
			r := get(valid)
			r.Header.Add("Authorization", "Bearer "+valid)
			return r
		}, 400, challenge(badRequest), "invalid_request"},
		{"token in the query string", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, resourcetest.MePath+"?access_token="+valid, nil)
		}, 400, challenge(queryToken), "invalid_request"},
		{"token in the query string besides the header", func() *http.Request {
			return withAuth(httptest.NewRequest(http.MethodGet, resourcetest.MePath+"?access_token="+valid, nil), "Bearer "+valid)
		}, 400, challenge(queryToken), "invalid_request"},
		{"token in a form body", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, resourcetest.LogoutPath, strings.NewReader("access_token="+valid))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 400, challenge(queryToken), "invalid_request"},
		{"not a b64token", func() *http.Request { return withAuth(get(""), "Bearer a b") }, 401, challenge(invalidToken), "invalid_token"},
		{"garbage", func() *http.Request { return get("not.a.jwt") }, 401, challenge(invalidToken), "invalid_token"},
		{"revoked", func() *http.Request { return get(revoked) }, 401, challenge(revokedToken), "invalid_token"},
		{"missing scope", func() *http.Request { return get(noProfile) }, 403,
			challenge(`error="insufficient_scope", error_description="the access token lacks a scope this request requires", scope="profile"`),
			"insufficient_scope"},
		{"valid", func() *http.Request { return get(valid) }, 200, "", ""},
		{"scheme is case-insensitive", func() *http.Request { return withAuth(get(""), "bEARER "+valid) }, 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.Serve(t, tc.req())
			if resp.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", resp.Code, tc.status, resp.Body)
			}
			if got := resp.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q\nwant               %q", got, tc.challenge)
			}
			if tc.status != 200 {
				if got, _ := resp.JSON["error"].(string); got != tc.errorCode {
					t.Errorf("body error = %q, want %q (body %s)", got, tc.errorCode, resp.Body)
				}
			}
		})
	}
}

func get(bearer string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, resourcetest.MePath, nil)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	return r
}

func withAuth(r *http.Request, value string) *http.Request {
	r.Header.Set("Authorization", value)
	return r
}

// TestForgedTokens: every token oauth2d did not issue as an access token
// for this audience is 401 invalid_token, with either access algorithm.
func TestForgedTokens(t *testing.T) {
	for _, alg := range []string{token.AlgRS256, token.AlgES256} {
		t.Run(alg, func(t *testing.T) {
			h := resourcetest.New(t, alg)
			valid, _ := h.UserToken(t, h.Admin, resourcetest.AllScopes...)
			active, err := h.Keys.Active(alg)
			if err != nil {
				t.Fatal(err)
			}
			kid := active.ID()
			for name, forged := range forgeries(t, h, valid, kid) {
				t.Run(name, func(t *testing.T) {
					resp := h.Serve(t, get(forged))
					if resp.Code != http.StatusUnauthorized || resp.Header().Get("WWW-Authenticate") != challenge(invalidToken) {
						t.Fatalf("status %d, WWW-Authenticate %q; want 401 invalid_token", resp.Code, resp.Header().Get("WWW-Authenticate"))
					}
				})
			}
			if resp := h.Serve(t, get(valid)); resp.Code != http.StatusOK {
				t.Fatalf("the genuine token: %d %s", resp.Code, resp.Body)
			}
			// The typ forgeries are refused for their typ alone: the same
			// payload re-signed the same way with typ at+jwt is accepted.
			if resp := h.Serve(t, get(resign(t, active, valid, "at+jwt"))); resp.Code != http.StatusOK {
				t.Fatalf("the genuine payload re-signed with typ at+jwt: %d %s", resp.Code, resp.Body)
			}
		})
	}
}

// forgeries builds tokens that must all be refused, from a valid one.
func forgeries(t *testing.T, h *resourcetest.Harness, valid, kid string) map[string]string {
	t.Helper()
	parts := strings.Split(valid, ".")
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	header := func(alg string) string {
		return b64.EncodeToString([]byte(`{"alg":"` + alg + `","kid":"` + kid + `","typ":"at+jwt"}`))
	}
	hmacSign := func(key []byte) string {
		signing := header("HS256") + "." + parts[1]
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(signing))
		return signing + "." + b64.EncodeToString(mac.Sum(nil))
	}
	active, _ := h.Keys.Lookup(kid)
	der, err := x509.MarshalPKIXPublicKey(active.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = h.Bob.ID
	tampered, _ := json.Marshal(claims)

	other, err := token.NewDevKeySet(token.AlgES256, token.AlgES256, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := token.NewMinter(other, resourcetest.Issuer, []string{resourcetest.Audience}, time.Now).
		MintAccess(context.Background(), token.AccessRequest{Subject: h.Admin.ID, ClientID: resourcetest.WebClient, Scope: resourcetest.AllScopes, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := h.Mint(t, token.AccessRequest{Subject: h.Admin.ID, ClientID: resourcetest.WebClient, Scope: resourcetest.AllScopes,
		IssuedAt: time.Now().Add(-2 * time.Hour), Lifetime: time.Hour})
	// Inside the verifier's clock leeway, but past exp all the same.
	justExpired, _ := h.Mint(t, token.AccessRequest{Subject: h.Admin.ID, ClientID: resourcetest.WebClient, Scope: resourcetest.AllScopes,
		IssuedAt: time.Now().Add(-time.Minute - 5*time.Second), Lifetime: time.Minute})
	wrongAud, _ := h.Mint(t, token.AccessRequest{Subject: h.Admin.ID, ClientID: resourcetest.WebClient, Scope: resourcetest.AllScopes,
		Audience: []string{"https://other.example"}, Lifetime: time.Minute})
	wrongIss, _, err := token.NewMinter(h.Keys, "https://evil.example", []string{resourcetest.Audience}, time.Now).
		MintAccess(context.Background(), token.AccessRequest{Subject: h.Admin.ID, ClientID: resourcetest.WebClient, Scope: resourcetest.AllScopes, Lifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	idToken, err := h.Minter.MintIDToken(context.Background(), token.IDClaims{Subject: h.Admin.ID, Audience: resourcetest.WebClient, Lifetime: time.Minute,
		Extra: map[string]any{"scope": strings.Join(resourcetest.AllScopes, " "), "client_id": resourcetest.WebClient}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		// Valid in every way but typ (RFC 9068 §4): what tells an access
		// token from an ID token or any other JWT we sign.
		"typ JWT":                             resign(t, active, valid, "JWT"),
		"no typ":                              resign(t, active, valid, ""),
		"alg none":                            header("none") + "." + parts[1] + ".",
		"alg none without signature part":     header("none") + "." + parts[1],
		"HS256 keyed with the PEM public key": hmacSign(pemKey),
		"HS256 keyed with the DER public key": hmacSign(der),
		"tampered payload":                    parts[0] + "." + b64.EncodeToString(tampered) + "." + parts[2],
		"signature of another token":          parts[0] + "." + parts[1] + "." + strings.Split(wrongAud, ".")[2],
		"unknown kid":                         foreign,
		"expired":                             expired,
		"expired within the leeway":           justExpired,
		"wrong audience":                      wrongAud,
		"wrong issuer":                        wrongIss,
		"id_token as access token":            idToken,
	}
}

// resign signs valid's payload, unchanged, with key under a header whose
// typ is typ ("" leaves typ out).
func resign(t *testing.T, key *token.Key, valid, typ string) string {
	t.Helper()
	header := map[string]any{"alg": key.Algorithm(), "kid": key.ID()}
	if typ != "" {
		header["typ"] = typ
	}
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	signing := b64.EncodeToString(hb) + "." + strings.Split(valid, ".")[1]
	sig, err := key.SignJWS(signing)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64.EncodeToString(sig)
}

// TestCachedTokenDiesOnRevocation: a token whose verification is cached
// is refused as soon as it is revoked, and never served past its exp.
func TestCachedTokenDiesOnRevocation(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	tests := []struct {
		name   string
		revoke func(t *testing.T, claims token.AccessClaims)
		// local: this instance made the revocation and applied it at
		// once, so the very next request is refused; else it arrives
		// over pub/sub and is polled for.
		local bool
	}{
		{"jti revoked at the revocation endpoint", func(t *testing.T, c token.AccessClaims) {
			if err := h.Store.RevokeJTI(h.Ctx, c.JTI, c.ExpiresAt); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"user revoked by an admin", func(t *testing.T, c token.AccessClaims) {
			if _, _, err := h.Revoker.RevokeUser(h.Ctx, c.Subject); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"client revoked", func(t *testing.T, c token.AccessClaims) {
			if err := h.Revoker.RevokeClient(h.Ctx, c.ClientID); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each case has its own subject and client: a cutoff also
			// refuses tokens issued later in the same second.
			raw, claims := h.Mint(t, token.AccessRequest{Subject: "user-" + tc.name, ClientID: "client-" + tc.name,
				Scope: resourcetest.AllScopes, Lifetime: resourcetest.TokenTTL})
			for range 3 { // verified once, then served from the cache
				if resp := h.Do(t, http.MethodGet, resourcetest.CommentsPath, raw, nil); resp.Code != http.StatusOK {
					t.Fatalf("before revocation: %d %s", resp.Code, resp.Body)
				}
			}
			tc.revoke(t, claims)
			if !tc.local {
				h.WaitStatus(t, resourcetest.CommentsPath, raw, http.StatusUnauthorized)
				return
			}
			if resp := h.Do(t, http.MethodGet, resourcetest.CommentsPath, raw, nil); resp.Code != http.StatusUnauthorized {
				t.Fatalf("the next request after the revocation: %d, want 401", resp.Code)
			}
		})
	}
	t.Run("never past exp", func(t *testing.T) {
		raw, _ := h.Mint(t, token.AccessRequest{Subject: h.Bob.ID, ClientID: resourcetest.WebClient, Scope: resourcetest.AllScopes, Lifetime: time.Minute})
		if resp := h.Do(t, http.MethodGet, resourcetest.MePath, raw, nil); resp.Code != http.StatusOK {
			t.Fatalf("fresh token: %d", resp.Code)
		}
		h.Clock.Advance(time.Minute)
		if resp := h.Do(t, http.MethodGet, resourcetest.MePath, raw, nil); resp.Code != http.StatusUnauthorized {
			t.Fatalf("cached token at its exp: %d, want 401", resp.Code)
		}
	})
}

func TestNotStartedIsUnavailable(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	verifier, err := token.NewVerifier(h.Keys, resourcetest.Issuer, []string{resourcetest.Audience}, 0, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := resource.NewAuthenticator(verifier, h.Store, resource.Options{Realm: resourcetest.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.Ping(h.Ctx); err == nil {
		t.Fatal("Ping before Start reported ready")
	}
	raw, _ := h.UserToken(t, h.Alice, resourcetest.AllScopes...)
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = get(raw)
	auth.RequireScopes()(c)
	if w.Code != http.StatusServiceUnavailable || !c.IsAborted() {
		t.Fatalf("before Start: %d (aborted %v), want 503", w.Code, c.IsAborted())
	}
	if err := auth.Load(h.Ctx); err != nil {
		t.Fatal(err)
	}
	if err := auth.Ping(h.Ctx); err != nil {
		t.Fatalf("Ping after Start: %v", err)
	}
	if err := auth.Load(h.Ctx); err == nil {
		t.Fatal("a second Load succeeded")
	}
}
