package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// ListSigningKeys returns every key sorted by CreatedAt (then id).
func (s *Store) ListSigningKeys(ctx context.Context) ([]*SigningKey, error) {
	out, err := hashValues[SigningKey](ctx, s.rdb, s.kSigningKeys(), "signing key")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// PutSigningKey creates or replaces the key by ID.
func (s *Store) PutSigningKey(ctx context.Context, k *SigningKey) error {
	if k.ID == "" {
		return fmt.Errorf("storage: signing key without id")
	}
	raw, err := encode(k, "signing key")
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, s.kSigningKeys(), k.ID, raw).Err(); err != nil {
		return fmt.Errorf("storage: put signing key: %w", err)
	}
	return nil
}

// DeleteSigningKey removes the key (ErrNotFound if unknown).
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.hashDel(ctx, s.kSigningKeys(), id, "signing key")
}
