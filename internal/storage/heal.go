package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// Redis may come back empty: restarted without persistence, or failed
// over to a replica that had not caught up. Nothing in Redis says so, so
// the store keeps markers: one small key next to each kind of data that
// is written once and then only read (clients, users, signing keys,
// resources; see keys.go), set when the data is known to be whole. A marker that is gone
// or holds another value than the one an instance remembers means the
// data beside it was lost (and perhaps healed by another instance).
//
// The markers together are the data epoch. MarkDataEpoch sets the missing
// ones (SET NX, so concurrent instances agree on one value) and returns
// the epoch; DataEpoch reads it, "" when any marker is missing.

// DataEpoch returns the current data epoch, or "" when any marker is
// missing: Redis lost data since the markers were set.
func (s *Store) DataEpoch(ctx context.Context) (string, error) {
	vals := make([]*redis.StringCmd, 0, len(s.kMarkers()))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range s.kMarkers() {
			vals = append(vals, p.Get(ctx, k))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("storage: read data markers: %w", classify(err))
	}
	parts := make([]string, 0, len(vals))
	for _, v := range vals {
		val, err := v.Result()
		switch {
		case errors.Is(err, redis.Nil):
			return "", nil
		case err != nil:
			return "", fmt.Errorf("storage: read data markers: %w", classify(err))
		}
		parts = append(parts, val)
	}
	return strings.Join(parts, "/"), nil
}

// MarkDataEpoch sets every missing marker to a fresh value and returns
// the epoch now stored. Call it once the data the markers guard is whole
// (bootstrap applied, signing keys stored). Instances that call it at the
// same time end with the same epoch: the first SET NX of each marker wins.
// Idempotent on re-delivery (redelivery.go).
func (s *Store) MarkDataEpoch(ctx context.Context) (string, error) {
	fresh := secret.NewToken(9)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range s.kMarkers() {
			p.SetNX(ctx, k, fresh, 0)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("storage: set data markers: %w", classify(err))
	}
	epoch, err := s.DataEpoch(ctx)
	if err == nil && epoch == "" {
		return "", errors.New("storage: data markers vanished as they were set")
	}
	return epoch, err
}
