package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
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

// putSigningKeysUnless: KEYS signing-keys; ARGV alg, state, then kid, JSON
// pairs. Writes every pair unless a key of alg in state is stored. A
// second delivery of the same call finds its own first record (a fresh
// key, so its JSON is unique) and answers 'ok' again.
var putSigningKeysUnless = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[3]) == ARGV[4] then return {'ok'} end
for _, raw in ipairs(redis.call('HVALS', KEYS[1])) do
  local k = cjson.decode(raw)
  if k['alg'] == ARGV[1] and k['state'] == ARGV[2] then return {'taken'} end
end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
end
return {'ok'}
`)

// PutSigningKeysUnless creates or replaces keys, all of algorithm alg, in
// one step unless a key of alg in state is stored already, and reports
// whether it wrote them. Instances that start together on an empty store
// each propose keys; the first proposal is stored and the others find the
// decision made and load it.
func (s *Store) PutSigningKeysUnless(ctx context.Context, alg, state string, keys ...*SigningKey) (bool, error) {
	if len(keys) == 0 {
		return false, fmt.Errorf("storage: no signing keys to put")
	}
	args := []any{alg, state}
	for _, k := range keys {
		if k.ID == "" {
			return false, fmt.Errorf("storage: signing key without id")
		}
		if k.Algorithm != alg {
			return false, fmt.Errorf("storage: signing key %s is %s, not %s", k.ID, k.Algorithm, alg)
		}
		raw, err := encode(k, "signing key")
		if err != nil {
			return false, err
		}
		args = append(args, k.ID, raw)
	}
	_, status, err := s.runScript(ctx, putSigningKeysUnless, []string{s.kSigningKeys()}, args...)
	if err != nil {
		return false, err
	}
	return status == "ok", nil
}

// DeleteSigningKey removes the key (ErrNotFound if unknown).
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.hashDel(ctx, s.kSigningKeys(), id, "signing key")
}
