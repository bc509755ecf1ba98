package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2d/oauth2d/internal/secret"
)

// enqueueLogouts: KEYS jobs, due; ARGV due ms, then id, JSON pairs. A
// delivery already queued (the same logout enqueued twice) is kept as it
// is, so a retried request cannot send a logout twice.
var enqueueLogouts = redis.NewScript(`
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i+1]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
  end
end
return {'ok'}
`)

// claimLogouts: KEYS jobs, due; ARGV now ms, lease ms, max, lease value.
// Each due delivery is pushed back by the lease and stamped with the
// lease value: until the lease runs out no other claim sees it.
var claimLogouts = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {'ok'}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[1], id)
  if not raw then
    redis.call('ZREM', KEYS[2], id)
  else
    local d = cjson.decode(raw)
    d['lease'] = ARGV[4]
    d['attempts'] = (tonumber(d['attempts']) or 0) + 1
    raw = cjson.encode(d)
    redis.call('HSET', KEYS[1], id, raw)
    redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
    table.insert(out, raw)
  end
end
return out
`)

// settleLogout: KEYS jobs, due; ARGV id, lease, JSON (empty: remove), due
// ms. Only the holder of the current lease settles a delivery. A second
// delivery of the same settling answers 'ok' again: a retry finds its own
// JSON (it differs from any other holder's in Attempts), a finish finds
// the delivery gone, which leaves nothing for anyone to settle.
var settleLogout = redis.NewScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  if ARGV[3] == '' then return {'ok'} end
  return {'nf'}
end
if raw == ARGV[3] then return {'ok'} end
if cjson.decode(raw)['lease'] ~= ARGV[2] then return {'nf'} end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
return {'ok'}
`)

// EnqueueLogouts queues ds, due at `at`.
func (s *Store) EnqueueLogouts(ctx context.Context, ds []*LogoutDelivery, at time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	args := []any{unixMs(at)}
	for _, d := range ds {
		if d.ID == "" || d.ClientID == "" || (d.Subject == "" && d.SID == "") {
			return errors.New("storage: a logout delivery needs an id, a client and a subject or sid")
		}
		c := *d
		c.Lease = ""
		raw, err := encode(&c, "logout delivery")
		if err != nil {
			return err
		}
		args = append(args, d.ID, raw)
	}
	_, _, err := s.runScript(ctx, enqueueLogouts, []string{s.kLogoutJobs(), s.kLogoutDue()}, args...)
	return err
}

// ClaimLogouts leases up to max due deliveries.
func (s *Store) ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, max int) ([]*LogoutDelivery, error) {
	if lease <= 0 || max <= 0 {
		return nil, errors.New("storage: claim needs a positive lease and batch size")
	}
	res, _, err := s.runScriptOnce(ctx, claimLogouts, []string{s.kLogoutJobs(), s.kLogoutDue()},
		unixMs(now), lease.Milliseconds(), max, secret.NewToken(16))
	if err != nil {
		return nil, err
	}
	out := make([]*LogoutDelivery, 0, len(res)-1)
	for i := 1; i < len(res); i++ {
		d, err := decode[LogoutDelivery](str(res, i), "logout delivery")
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// RetryLogout makes d due again at `at`.
func (s *Store) RetryLogout(ctx context.Context, d *LogoutDelivery, at time.Time) error {
	c := *d
	c.Lease = ""
	raw, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("storage: encode logout delivery: %w", err)
	}
	return s.settleLogout(ctx, d, string(raw), at)
}

// FinishLogout removes d.
func (s *Store) FinishLogout(ctx context.Context, d *LogoutDelivery) error {
	return s.settleLogout(ctx, d, "", time.Time{})
}

func (s *Store) settleLogout(ctx context.Context, d *LogoutDelivery, raw string, at time.Time) error {
	if d.Lease == "" {
		return ErrNotFound
	}
	_, status, err := s.runScript(ctx, settleLogout, []string{s.kLogoutJobs(), s.kLogoutDue()},
		d.ID, d.Lease, raw, unixMs(at))
	if err != nil {
		return err
	}
	if status == "nf" {
		return ErrNotFound
	}
	return nil
}
