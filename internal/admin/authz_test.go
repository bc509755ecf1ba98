package admin_test

import (
	"net/http"
	"testing"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/token"
)

// The admin API checks the admin scope and the admin role: the token must
// carry the role, and its user must hold it still (issue 22), so that a
// demotion that revoked nothing takes effect at once. A machine client's
// own token needs the scope alone.
func TestAdminNeedsTheRoleToo(t *testing.T) {
	h := newHarness(t)
	const path = "/admin/v1/clients"
	h.expect(t, h.do(t, http.MethodGet, path, h.bearer, nil), http.StatusOK)

	// Scope admin without the role in the token (minted without it):
	// refused.
	scopeOnly, _ := h.Mint(t, token.AccessRequest{Subject: h.Admin.ID, ClientID: "cli", Scope: []string{account.ScopeAdmin},
		Lifetime: resourcetest.TokenTTL})
	h.expect(t, h.do(t, http.MethodGet, path, scopeOnly, nil), http.StatusForbidden)

	// A machine client registered for admin acts by its scope.
	h.expect(t, h.do(t, http.MethodGet, path, h.ClientToken(t, account.ScopeAdmin), nil), http.StatusOK)

	// The admin is demoted without their tokens being revoked (as a
	// re-applied bootstrap file does): the token they hold stops working.
	demoted := *h.Admin
	demoted.Roles = []string{"user"}
	if err := h.Store.UpdateUser(t.Context(), &demoted); err != nil {
		t.Fatal(err)
	}
	h.expect(t, h.do(t, http.MethodGet, path, h.bearer, nil), http.StatusForbidden)
}
