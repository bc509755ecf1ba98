package storage

import (
	"context"
	"errors"
	"fmt"
)

// SavePushedRequest stores a pushed authorization request (RFC 9126)
// under refHash, the SHA-256 of its request_uri's random part, until
// r.ExpiresAt. A hash is never overwritten.
func (s *Store) SavePushedRequest(ctx context.Context, refHash string, r *AuthRequest) error {
	if refHash == "" {
		return errors.New("storage: empty pushed request hash")
	}
	ttl := r.ExpiresAt.Sub(s.now())
	if ttl <= 0 {
		return errors.New("storage: pushed request already expired")
	}
	raw, err := encode(r, "pushed request")
	if err != nil {
		return err
	}
	// Never re-sent (redelivery.go): a second SET NX would answer ErrConflict.
	rdb, err := s.noResend(ctx, s.kPushed(refHash))
	if err != nil {
		return err
	}
	ok, err := rdb.SetNX(ctx, s.kPushed(refHash), raw, ttl).Result()
	if err != nil {
		return fmt.Errorf("storage: save pushed request: %w", classify(err))
	}
	if !ok {
		return ErrConflict
	}
	return nil
}

// GetPushedRequest returns the pushed request without using it up: the
// authorization endpoint checks its presenter first (RFC 9126 §4: only
// the client that pushed it may use it) and takes it only then.
// Unknown, used or expired: ErrNotFound.
func (s *Store) GetPushedRequest(ctx context.Context, refHash string) (*AuthRequest, error) {
	return s.liveAuthRequest(getStringRecord[AuthRequest](ctx, s.rdb, s.kPushed(refHash), "pushed request"))
}

// TakePushedRequest returns the pushed request and deletes it (GETDEL):
// a request_uri is used once, by one of any number of concurrent takers.
// Unknown, used or expired: ErrNotFound.
func (s *Store) TakePushedRequest(ctx context.Context, refHash string) (*AuthRequest, error) {
	return s.takeAuthRequest(ctx, s.kPushed(refHash), "pushed request")
}
