package admin_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// A private_key_jwt client is registered through the admin API with its
// keys: no secret is made for it, none can be rotated, an update keeps
// it without one, and the views show its keys.
func TestClientPrivateKeyJWT(t *testing.T) {
	h := newHarness(t)
	jwks := map[string]any{"keys": []any{map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "a"}}}
	pk := map[string]any{"id": "job", "grant_types": []string{"client_credentials"}, "scopes": []string{"comments:read"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}
	created := h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients", h.bearer, pk), 201)
	if created.JSON["client_secret"] != nil && created.JSON["client_secret"] != "" {
		t.Fatalf("a private_key_jwt client got a secret: %s", created.Body)
	}
	stored, err := h.Store.GetClient(t.Context(), "job")
	if err != nil || stored.SecretHash != "" || stored.AuthMethod() != "private_key_jwt" {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	got := h.expect(t, h.do(t, http.MethodGet, "/admin/v1/clients/job", h.bearer, nil), 200)
	var keys struct {
		JWKS struct {
			Keys []map[string]any `json:"keys"`
		} `json:"jwks"`
	}
	if err := json.Unmarshal(got.Body.Bytes(), &keys); err != nil || len(keys.JWKS.Keys) != 1 || keys.JWKS.Keys[0]["kid"] != "a" {
		t.Fatalf("get: %s (%v)", got.Body, err)
	}
	h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients/job/secret", h.bearer, nil), 409)
	upd := h.expect(t, h.do(t, http.MethodPut, "/admin/v1/clients/job", h.bearer, with(pk, "scopes", []string{"openid"})), 200)
	if upd.JSON["client_secret"] != nil && upd.JSON["client_secret"] != "" {
		t.Fatalf("update made a secret: %s", upd.Body)
	}
	// Made a secret client again, it gets a secret.
	back := h.expect(t, h.do(t, http.MethodPut, "/admin/v1/clients/job", h.bearer,
		map[string]any{"grant_types": []string{"client_credentials"}, "scopes": []string{"comments:read"}}), 200)
	if s, _ := back.JSON["client_secret"].(string); s == "" {
		t.Fatalf("a client no longer private_key_jwt got no secret: %s", back.Body)
	}
	// A symmetric key is refused.
	bad := with(pk, "id", "job2", "jwks", map[string]any{"keys": []any{map[string]any{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}}})
	h.expect(t, h.do(t, http.MethodPost, "/admin/v1/clients", h.bearer, bad), 400)
}
