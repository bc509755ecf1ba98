package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// SaveConsent replaces the user's consent for the client.
func (s *Store) SaveConsent(ctx context.Context, c *Consent) error {
	if c.UserID == "" || c.ClientID == "" {
		return fmt.Errorf("storage: consent needs a user and a client")
	}
	if c.GrantedAt.IsZero() {
		c.GrantedAt = s.now().UTC()
	}
	raw, err := encode(c, "consent")
	if err != nil {
		return err
	}
	key := s.kConsents(c.UserID)
	err = s.acked(ctx, key, func(rdb redis.Cmdable) error { return rdb.HSet(ctx, key, c.ClientID, raw).Err() })
	if err != nil {
		return fmt.Errorf("storage: save consent: %w", err)
	}
	return nil
}

// GetConsent returns the consent or ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*Consent, error) {
	return hashGet[Consent](ctx, s.rdb, s.kConsents(userID), clientID, "consent")
}

// ListConsents returns the user's consents sorted by client id.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]*Consent, error) {
	out, err := hashValues[Consent](ctx, s.rdb, s.kConsents(userID), "consent")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// DeleteConsent forgets the consent (ErrNotFound if there was none).
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return s.hashDel(ctx, s.kConsents(userID), clientID, "consent")
}
