package oauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/oauth2d/oauth2d/internal/storage"
)

// lookupCounter is a GrantStore that only counts code lookups.
type lookupCounter struct {
	GrantStore
	calls int
}

func (s *lookupCounter) GetCode(context.Context, string) (*storage.AuthCode, error) {
	s.calls++
	return nil, storage.ErrNotFound
}

// An overlong code is answered like an unknown one, before it is hashed
// or looked up (limits.go).
func TestOverlongCodeNotLookedUp(t *testing.T) {
	store := &lookupCounter{}
	h := &Handler{store: store, now: time.Now}
	client := &storage.Client{ID: "app"}
	for _, code := range []string{strings.Repeat("a", 43), strings.Repeat("a", 60<<10)} {
		_, e := h.authorizationCodeGrant(context.Background(), nil, form{"code": {code}}, client)
		if e == nil || e.Code != ErrInvalidGrant.Code {
			t.Fatalf("len %d: got %v, want invalid_grant", len(code), e)
		}
	}
	if store.calls != 1 {
		t.Fatalf("%d lookups, want 1 (the 43-character code only)", store.calls)
	}
}
