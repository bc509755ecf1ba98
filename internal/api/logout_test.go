package api_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv/resourcetest"
	"github.com/oauth2d/oauth2d/internal/token"
)

// TestLogoutEverywhere: POST /api/v1/logout ends the presented token and
// every session of its user with its client, and nothing else.
func TestLogoutEverywhere(t *testing.T) {
	h := resourcetest.New(t, token.AlgES256)
	presented, _ := h.UserToken(t, h.Alice, resourcetest.AllScopes...)
	webFamily, webAccess := h.NewFamily(t, h.Alice, resourcetest.WebClient)
	otherFamily, otherAccess := h.NewFamily(t, h.Alice, "other-app")
	_, bobAccess := h.NewFamily(t, h.Bob, resourcetest.WebClient)

	if resp := h.Do(t, http.MethodPost, resourcetest.LogoutPath, presented, nil); resp.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.Code, resp.Body)
	}
	tests := []struct {
		name   string
		bearer string
		status int
	}{
		{"the presented token", presented, 401},
		{"the access token of alice's web session", webAccess, 401},
		{"alice's session with another client", otherAccess, 200},
		{"bob's session", bobAccess, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if resp := h.Do(t, http.MethodGet, resourcetest.CommentsPath, tc.bearer, nil); resp.Code != tc.status {
				t.Fatalf("status %d, want %d", resp.Code, tc.status)
			}
		})
	}
	if _, err := h.Store.CheckRefresh(h.Ctx, webFamily.ID, webFamily.TokenHash); !errors.Is(err, storage.ErrRevoked) {
		t.Errorf("the logged-out client's family: %v, want storage.ErrRevoked", err)
	}
	if _, err := h.Store.CheckRefresh(h.Ctx, otherFamily.ID, otherFamily.TokenHash); err != nil {
		t.Errorf("the other client's family: %v, want it untouched", err)
	}
	t.Run("client credentials token", func(t *testing.T) {
		service := h.ClientToken(t, "comments:read")
		if resp := h.Do(t, http.MethodPost, resourcetest.LogoutPath, service, nil); resp.Code != http.StatusNoContent {
			t.Fatalf("logout: %d", resp.Code)
		}
		if resp := h.Do(t, http.MethodGet, resourcetest.CommentsPath, service, nil); resp.Code != 401 {
			t.Fatalf("after logout: %d, want 401", resp.Code)
		}
	})
}
