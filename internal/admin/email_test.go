package admin_test

import (
	"net/http"
	"testing"
)

// email_verified is set at creation, shown with the email, cleared when
// the address changes, and set again by PATCH.
func TestEmailVerified(t *testing.T) {
	h := newHarness(t)
	path := "/admin/v1/users"
	created := h.expect(t, h.do(t, http.MethodPost, path, h.bearer, map[string]any{"username": "dora", "password": "dora-password",
		"roles": []string{"user"}, "email": "dora@example.com", "email_verified": true}), 201)
	if created.JSON["email_verified"] != true {
		t.Fatalf("create: %s", created.Body)
	}
	user := path + "/" + created.JSON["id"].(string)
	moved := h.expect(t, h.do(t, http.MethodPatch, user, h.bearer, map[string]any{"email": "dora@example.org"}), 200)
	if moved.JSON["email_verified"] != false {
		t.Fatalf("a new address stayed verified: %s", moved.Body)
	}
	same := h.expect(t, h.do(t, http.MethodPatch, user, h.bearer, map[string]any{"email": "dora@example.org", "email_verified": true}), 200)
	if same.JSON["email_verified"] != true {
		t.Fatalf("patch: %s", same.Body)
	}
	h.expect(t, h.do(t, http.MethodPost, path, h.bearer, map[string]any{"username": "eve", "password": "eve-password",
		"email_verified": true}), 400)
}
