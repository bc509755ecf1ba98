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

// appendToFeed is the Lua helper that appends an entry to a revocation
// feed stream (feed.go), capped at about cap entries. The first entry a
// stream ever gets carries first=1: a cursor taken while the stream was
// empty can be followed as long as that entry is still there.
const appendToFeed = `
local function append_to_feed(stream, cap, ...)
  if redis.call('EXISTS', stream) == 0 then
    redis.call('XADD', stream, 'MAXLEN', '~', cap, '*', 'first', '1', ...)
  else
    redis.call('XADD', stream, 'MAXLEN', '~', cap, '*', ...)
  end
end
`

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

// revokeJTI: KEYS deny set, jti feed stream; ARGV jti, exp ms, now ms,
// stream cap. Keeps the later exp if the jti is denied twice, appends to
// the feed only when that changed the set (so a re-sent script adds no
// second entry, see redelivery.go), drops expired entries, and lets the
// set and the stream live exactly as long as the set's latest entry: once
// every revocation has expired there is nothing to follow, and a cursor
// into the gone stream is answered with the (empty) snapshot.
var revokeJTI = redis.NewScript(expireWithLatest + appendToFeed + `
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not old or tonumber(old) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  append_to_feed(KEYS[2], ARGV[4], 'jti', ARGV[1], 'exp', ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
expire_with_latest(ARGV[3], KEYS[1], KEYS[2])
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
	if _, _, err := s.runScript(ctx, revokeJTI, []string{s.kRevokedJTI(), s.kJTIFeed()},
		jti, unixMs(expiresAt), unixMs(now), FeedMaxLen); err != nil {
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

// cutoffKeys are the keys both cutoff scripts take: the not-before hash
// and the until set.
func (s *Store) cutoffKeys() []string { return []string{s.kCutoffsNBF(), s.kCutoffsUntil()} }

func (c Cutoff) valid() bool { return c.Principal != "" && !c.NotBefore.IsZero() }

func cutoffOf(principal, nbfMs, untilMs string) Cutoff {
	return Cutoff{Principal: principal, NotBefore: fromMs(scoreString(nbfMs)), Until: fromMs(scoreString(untilMs))}
}

// setCutoff: KEYS nbf hash, until zset, cutoff feed stream; ARGV
// principal, nbf ms, until ms, now ms, stream cap. Keeps the later of
// each time, appends the principal's resulting cutoff to the feed only
// when either changed (as revokeJTI), drops expired principals from both
// keys, lets both keys and the stream live as long as the latest entry
// (as revokeJTI), and returns the
// principal's cutoff as now stored.
var setCutoff = redis.NewScript(expireWithLatest + appendToFeed + `
local changed = false
local nbf = redis.call('HGET', KEYS[1], ARGV[1])
if not nbf or tonumber(nbf) < tonumber(ARGV[2]) then
  nbf = ARGV[2]
  redis.call('HSET', KEYS[1], ARGV[1], nbf)
  changed = true
end
local untl = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not untl or tonumber(untl) < tonumber(ARGV[3]) then
  untl = ARGV[3]
  redis.call('ZADD', KEYS[2], untl, ARGV[1])
  changed = true
end
if changed then
  append_to_feed(KEYS[3], ARGV[5], 'p', ARGV[1], 'nbf', tostring(nbf), 'until', tostring(untl))
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
for _, p in ipairs(gone) do redis.call('HDEL', KEYS[1], p) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
expire_with_latest(ARGV[4], KEYS[2], KEYS[1], KEYS[3])
return {'ok', tostring(nbf), tostring(untl)}
`)

// listCutoffs: KEYS nbf hash, until zset; ARGV now ms. Returns 'ok' then
// principal, nbf, until triples.
var listCutoffs = redis.NewScript(`
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')
local out = {'ok'}
for i = 1, #live, 2 do
  local nbf = redis.call('HGET', KEYS[1], live[i])
  if nbf then
    out[#out+1] = live[i]
    out[#out+1] = nbf
    out[#out+1] = live[i+1]
  end
end
return out
`)

// SetCutoff records c and publishes the principal's resulting cutoff.
func (s *Store) SetCutoff(ctx context.Context, c Cutoff) error {
	if !c.valid() {
		return errors.New("storage: cutoff needs a principal and a time")
	}
	now := s.now()
	if !c.Until.After(now) {
		return nil
	}
	res, _, err := s.runScript(ctx, setCutoff, append(s.cutoffKeys(), s.kCutoffFeed()),
		c.Principal, unixMs(c.NotBefore), unixMs(c.Until), unixMs(now), FeedMaxLen)
	if err != nil {
		return err
	}
	msg, err := encode(cutoffOf(c.Principal, str(res, 1), str(res, 2)), "cutoff")
	if err != nil {
		return err
	}
	// Stored first: a subscriber that misses the message resyncs from the
	// keys after reconnecting.
	if err := s.rdb.Publish(ctx, s.kCutoffChanges(), msg).Err(); err != nil {
		return fmt.Errorf("storage: publish cutoff: %w", err)
	}
	return nil
}

// Cutoffs lists every cutoff still in force.
func (s *Store) Cutoffs(ctx context.Context) (map[string]Cutoff, error) {
	res, _, err := s.runScript(ctx, listCutoffs, s.cutoffKeys(), unixMs(s.now()))
	if err != nil {
		return nil, err
	}
	out := make(map[string]Cutoff, (len(res)-1)/3)
	for i := 1; i+2 < len(res); i += 3 {
		c := cutoffOf(str(res, i), str(res, i+1), str(res, i+2))
		out[c.Principal] = c
	}
	return out, nil
}

// IsAccessRevoked reports whether an access token is revoked by its jti or
// by a cutoff of its subject or client: both checks, one round trip (a
// pipeline, so it also runs on Cluster where the keys sit in two slots).
func (s *Store) IsAccessRevoked(ctx context.Context, jti, subject, clientID string, issuedAt time.Time) (bool, error) {
	var score *redis.FloatCmd
	var cuts *redis.SliceCmd
	// Each command's own error is read below; Pipelined's is only the first.
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		score = p.ZScore(ctx, s.kRevokedJTI(), jti)
		cuts = p.HMGet(ctx, s.kCutoffsNBF(), SubjectCutoff(subject), ClientCutoff(clientID))
		return nil
	})
	exp, err := score.Result()
	switch {
	case err == nil && int64(exp) > unixMs(s.now()):
		return true, nil
	case err != nil && !errors.Is(err, redis.Nil):
		return false, fmt.Errorf("storage: revoked jti: %w", err)
	}
	vals, err := cuts.Result()
	if err != nil {
		return false, fmt.Errorf("storage: cutoffs: %w", err)
	}
	return cutOff(vals, issuedAt), nil
}

// cutOff reports whether any of the cutoffs read (unix ms, nil when
// absent) is after issuedAt.
func cutOff(vals []any, issuedAt time.Time) bool {
	for _, v := range vals {
		if ms, ok := v.(string); ok && issuedAt.Before(fromMs(ms)) {
			return true
		}
	}
	return false
}

// scoreString reads a sorted-set score from a script reply: Redis gives it
// as a string that may be in exponent form for large values.
func scoreString(s string) string {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatInt(int64(f), 10)
	}
	return s
}

// SubscribeCutoffs delivers each cutoff published from now on until ctx
// ends, then closes the channel. It returns once the subscription is
// active; see SubscribeRevocations for how reconnects are reported.
func (s *Store) SubscribeCutoffs(ctx context.Context, onReconnect func()) (<-chan Cutoff, error) {
	return subscribe(ctx, s, s.kCutoffChanges(), onReconnect, func(payload string) (Cutoff, bool) {
		var c Cutoff
		err := json.Unmarshal([]byte(payload), &c)
		return c, err == nil && c.valid()
	})
}
