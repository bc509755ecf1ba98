package oauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
	"github.com/oauth2d/oauth2d/internal/testenv"
)

// A consent decision is recorded on a stored request only: a sealed handle
// at the consent form (a forged or replayed post) is an expired request,
// and nothing reaches Redis under its long handle.
func TestSaveDecisionOnlyOnStoredRequests(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	pending, err := NewPendingRequests(env.Store, secret.NewRandomBox(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := &storage.AuthRequest{ClientID: "app", RedirectURI: "https://app.example/cb", UserID: "u-alice",
		RequestedScope: []string{"openid"}, ExpiresAt: time.Now().Add(time.Minute)}

	handle, err := pending.seal(req)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := pending.GetAuthRequest(ctx, handle)
	if err != nil {
		t.Fatal(err)
	}
	sealed.Decision, sealed.DecidedBy = "allow", "u-alice"
	if err := pending.SaveDecision(ctx, sealed); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("decision on a sealed request: %v, want storage.ErrNotFound", err)
	}

	req.ID = "stored-request-id-000001"
	if err := env.Store.SaveAuthRequest(ctx, req); err != nil {
		t.Fatal(err)
	}
	stored, err := pending.GetAuthRequest(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.Decision, stored.DecidedBy = "allow", "u-alice"
	if err := pending.SaveDecision(ctx, stored); err != nil {
		t.Fatalf("decision on a stored request: %v", err)
	}
	if got, err := env.Store.GetAuthRequest(ctx, req.ID); err != nil || got.Decision != "allow" {
		t.Fatalf("stored decision: %+v, %v", got, err)
	}
}
