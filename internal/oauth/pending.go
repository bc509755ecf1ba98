package oauth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// sealedPrefix starts the handle of a sealed request; a stored request's
// handle is its id, 22 base64url characters, which never hold a dot.
const sealedPrefix = "s1."

// PendingRequests keeps authorization requests while the user signs in
// and consents, and finds them again by the handle the pages carry in
// ?req=. What an anonymous visitor leaves behind is bounded this way
// (DESIGN.md §4):
//
//   - while nobody has signed in, the request is sealed (secret.Box) into
//     the handle itself and nothing is stored: any number of authorization
//     requests and login page views from anyone cost Redis nothing;
//   - once a user has signed in and must consent, the request is stored in
//     Redis (until AuthRequestTTL) under a random id, so the consent
//     decision is recorded and answered exactly once; only signed-in users
//     create these.
//
// A sealed request is not consumed when answered: within its lifetime the
// same signed-in browser may present it again and get another answer, as
// if the client had sent the request again; a stranger holding it gets
// the login page.
type PendingRequests struct {
	store storage.AuthRequestStore
	box   *secret.Box
	now   func() time.Time
}

// NewPendingRequests keeps requests in store (signed-in users) and in the
// browser, sealed by box (anonymous visitors). now may be nil.
func NewPendingRequests(store storage.AuthRequestStore, box *secret.Box, now func() time.Time) (*PendingRequests, error) {
	if store == nil || box == nil {
		return nil, errors.New("oauth: pending requests need a store and a box")
	}
	if now == nil {
		now = time.Now
	}
	return &PendingRequests{store: store, box: box, now: now}, nil
}

// GetAuthRequest returns the request a handle names, or
// storage.ErrNotFound when it does not exist, has expired, or was forged.
func (p *PendingRequests) GetAuthRequest(ctx context.Context, handle string) (*storage.AuthRequest, error) {
	if rest, ok := strings.CutPrefix(handle, sealedPrefix); ok {
		var r storage.AuthRequest
		if err := p.box.Open(secret.PurposeAuthRequest, rest, p.now(), &r); err != nil {
			return nil, storage.ErrNotFound
		}
		r.ID = handle
		return &r, nil
	}
	if handle == "" || len(handle) > 64 {
		return nil, storage.ErrNotFound
	}
	return p.store.GetAuthRequest(ctx, handle)
}

// SaveDecision records the user's consent decision on a stored request.
// A sealed request has nowhere to keep one (it is stored the moment a
// signed-in user must consent, so only a forged or replayed form carries a
// sealed handle here): storage.ErrNotFound, as for an expired request.
func (p *PendingRequests) SaveDecision(ctx context.Context, req *storage.AuthRequest) error {
	if isSealed(req) {
		return storage.ErrNotFound
	}
	return p.store.SaveAuthRequest(ctx, req)
}

// isSealed reports whether req came from a sealed handle.
func isSealed(req *storage.AuthRequest) bool { return strings.HasPrefix(req.ID, sealedPrefix) }

// seal returns the handle that carries req.
func (p *PendingRequests) seal(req *storage.AuthRequest) (string, error) {
	c := *req
	c.ID = ""
	s, err := p.box.Seal(secret.PurposeAuthRequest, &c, req.ExpiresAt)
	if err != nil {
		return "", err
	}
	return sealedPrefix + s, nil
}
