package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// expireWithLatest is the Lua helper of the sets scored by an expiry (the
// deny list, the cutoffs): set and the keys that go with it live exactly
// as long as the set's latest entry, so revocations nobody adds to any
// more leave Redis by themselves.
const expireWithLatest = `
local function expire_with_latest(now, set, ...)
  local top = redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')
  if not top[2] then return end
  local ttl = math.max(tonumber(top[2]) - tonumber(now), 1)
  for _, k in ipairs({set, ...}) do redis.call('PEXPIRE', k, ttl) end
end
`

// revokeJTI: KEYS deny set; ARGV jti, exp ms, now ms. Keeps the later exp
// if the jti is denied twice, drops expired entries, and lets the key
// live exactly as long as its latest entry.
var revokeJTI = redis.NewScript(expireWithLatest + `
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not old or tonumber(old) < tonumber(ARGV[2]) then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
expire_with_latest(ARGV[3], KEYS[1])
return {'ok'}
`)

// RevokeJTI denies jti until expiresAt and publishes the revocation. A
// token that has already expired needs no entry.
func (s *Store) RevokeJTI(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return errors.New("storage: empty jti")
	}
	now := s.now()
	if !expiresAt.After(now) {
		return nil
	}
	if _, _, err := s.runScript(ctx, revokeJTI, []string{s.kRevokedJTI()},
		jti, unixMs(expiresAt), unixMs(now)); err != nil {
		return err
	}
	msg, err := encode(RevokedJTI{JTI: jti, ExpiresAt: expiresAt.UTC()}, "revocation")
	if err != nil {
		return err
	}
	// The entry is written first: a subscriber that misses the message
	// resyncs from the set after reconnecting.
	if err := s.rdb.Publish(ctx, s.kRevocations(), msg).Err(); err != nil {
		return fmt.Errorf("storage: publish revocation: %w", err)
	}
	return nil
}

// RevokedJTIs lists every jti still denied with its expiry.
func (s *Store) RevokedJTIs(ctx context.Context) (map[string]time.Time, error) {
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, s.kRevokedJTI(), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(unixMs(s.now()), 10),
		Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: revoked jtis: %w", err)
	}
	out := make(map[string]time.Time, len(zs))
	for _, z := range zs {
		jti, _ := z.Member.(string)
		out[jti] = time.UnixMilli(int64(z.Score)).UTC()
	}
	return out, nil
}

// SubscribeRevocations delivers each revocation published from now on
// until ctx ends, then closes the channel; onReconnect is called after a
// lost link was re-established, so the caller can resync with
// RevokedJTIs (see subscribe).
func (s *Store) SubscribeRevocations(ctx context.Context, onReconnect func()) (<-chan RevokedJTI, error) {
	return subscribe(ctx, s, s.kRevocations(), onReconnect, func(payload string) (RevokedJTI, bool) {
		var r RevokedJTI
		err := json.Unmarshal([]byte(payload), &r)
		return r, err == nil && r.JTI != ""
	})
}
