package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeviceRetention is how long a device authorization's record is kept
// after it expires, so that a late poll is answered expired_token (RFC
// 8628 §3.5) and a used device code is recognised as used rather than
// answered as an unknown one.
const DeviceRetention = 10 * time.Minute

// DeviceSlowDownStep is what a poll that came too early adds to the
// interval the client must keep (RFC 8628 §3.5: slow_down).
const DeviceSlowDownStep = 5 * time.Second

// The states of a device authorization and the answers of PollDevice.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	DeviceConsumed = "consumed"
	// Only answered by PollDevice:
	DeviceSlowDown = "slow"     // polled before the interval passed; the interval grew
	DeviceExpired  = "expired"  // past ExpiresAt, never consumed
	DeviceUsed     = "used"     // consumed by another poll
	DeviceNotReady = "retry"    // approved, but the poll had not prepared for it (PollDevice)
	deviceIssued   = "ok"       // this poll consumed it
	deviceUnknown  = "nf"       // no record
	deviceDecided  = "decided"  // DecideDevice found another decision
	deviceConflict = "conflict" // a create found another record
)

// createUserCode: KEYS device-uc; ARGV device hash, ttl ms. A user code is
// never overwritten; the same create delivered twice finds its own value.
var createUserCode = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] then return {'ok'} end
  return {'conflict'}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'ok'}
`)

// createDevice: KEYS device; ARGV request json, exp ms, interval ms, ttl ms.
var createDevice = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'req')
if cur then
  if cur == ARGV[1] then return {'ok'} end
  return {'conflict'}
end
redis.call('HSET', KEYS[1], 'req', ARGV[1], 'exp', ARGV[2], 'st', 'pending', 'iv', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'ok'}
`)

// decideDevice: KEYS device; ARGV now ms, 'approved'|'denied', grant json.
// Only a pending, unexpired authorization is decided, once; the same
// decision delivered twice finds itself and answers 'ok' again.
var decideDevice = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'exp', 'st', 'grant')
if not f[2] then return {'nf'} end
if f[2] == ARGV[2] and f[3] == ARGV[3] then return {'ok'} end
if f[2] ~= 'pending' then return {'decided'} end
if tonumber(f[1]) <= tonumber(ARGV[1]) then return {'nf'} end
redis.call('HSET', KEYS[1], 'st', ARGV[2], 'grant', ARGV[3])
return {'ok'}
`)

// pollDevice: KEYS device; ARGV now ms, poll id, prepared '1'|'0',
// redemption id, slow-down step ms. Replies {answer, interval ms[, grant]}.
// A poll is the request's identity: delivered twice, it answers what it
// did the first time (its answer is kept under poll/ans, a consumption's
// under red). An approved authorization is consumed only by a poll that
// prepared for it (the token endpoint read the approval and decided the
// issuance first); one that did not is told to read again.
var pollDevice = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'exp', 'st', 'iv', 'last', 'poll', 'ans', 'grant', 'red')
if not f[2] then return {'nf', '0'} end
if f[8] and f[8] == ARGV[4] then return {'ok', f[3], f[7]} end
if f[5] == ARGV[2] then return {f[6], f[3]} end
local now = tonumber(ARGV[1])
if f[2] == 'consumed' then return {'used', f[3]} end
if tonumber(f[1]) <= now then return {'expired', f[3]} end
if f[2] == 'denied' then return {'denied', f[3]} end
if f[2] == 'approved' then
  if ARGV[3] ~= '1' then return {'retry', f[3]} end
  redis.call('HSET', KEYS[1], 'st', 'consumed', 'red', ARGV[4])
  return {'ok', f[3], f[7]}
end
local iv = tonumber(f[3])
local ans = 'pending'
if f[4] and now - tonumber(f[4]) < iv then
  iv = iv + tonumber(ARGV[5])
  ans = 'slow'
end
redis.call('HSET', KEYS[1], 'iv', iv, 'last', now, 'poll', ARGV[2], 'ans', ans)
return {ans, tostring(iv)}
`)

// CreateDevice stores a device authorization under deviceHash (the
// SHA-256 of its device code) and its user code's hash
// (a.UserCodeHash), pending, until a.ExpiresAt; the client must wait
// interval between polls. A user code already in use is ErrConflict: the
// caller draws another. The user code is claimed first, so a record is
// never stored under a user code that leads elsewhere; a user code whose
// record could not be stored leads nowhere and expires.
func (s *Store) CreateDevice(ctx context.Context, deviceHash string, a *DeviceAuthorization, interval time.Duration) error {
	if deviceHash == "" || a.UserCodeHash == "" {
		return errors.New("storage: empty device or user code hash")
	}
	ttl := a.ExpiresAt.Sub(s.now())
	if ttl <= 0 {
		return errors.New("storage: device authorization already expired")
	}
	raw, err := encode(a, "device authorization")
	if err != nil {
		return err
	}
	_, status, err := s.runScript(ctx, createUserCode, []string{s.kUserCode(a.UserCodeHash)}, deviceHash, max(ttl.Milliseconds(), 1))
	if err != nil {
		return err
	}
	if status == deviceConflict {
		return ErrConflict
	}
	_, status, err = s.runScript(ctx, createDevice, []string{s.kDevice(deviceHash)},
		raw, unixMs(a.ExpiresAt), interval.Milliseconds(), (ttl + DeviceRetention).Milliseconds())
	if err != nil {
		return err
	}
	if status == deviceConflict {
		return ErrConflict
	}
	return nil
}

// GetDevice reads a device authorization and its state without changing
// it; unknown (or past its retention): ErrNotFound.
func (s *Store) GetDevice(ctx context.Context, deviceHash string) (*DeviceState, error) {
	f, err := s.rdb.HMGet(ctx, s.kDevice(deviceHash), "req", "st", "iv", "grant", "exp").Result()
	if err != nil {
		return nil, fmt.Errorf("storage: get device authorization: %w", classify(err))
	}
	raw, _ := f[0].(string)
	if raw == "" {
		return nil, ErrNotFound
	}
	a, err := decode[DeviceAuthorization](raw, "device authorization")
	if err != nil {
		return nil, err
	}
	st := &DeviceState{DeviceAuthorization: *a}
	st.Status, _ = f[1].(string)
	iv, _ := f[2].(string)
	ms, _ := strconv.ParseInt(iv, 10, 64)
	st.Interval = time.Duration(ms) * time.Millisecond
	if g, _ := f[3].(string); g != "" {
		if st.Grant, err = decode[DeviceGrant](g, "device grant"); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// GetDeviceByUserCode finds the device authorization a user code (by its
// hash) names and returns its device code's hash; unknown or expired:
// ErrNotFound. It may have been decided already (DeviceState.Status).
func (s *Store) GetDeviceByUserCode(ctx context.Context, userCodeHash string) (string, *DeviceState, error) {
	deviceHash, err := s.rdb.Get(ctx, s.kUserCode(userCodeHash)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil, ErrNotFound
	}
	if err != nil {
		return "", nil, fmt.Errorf("storage: get user code: %w", classify(err))
	}
	st, err := s.GetDevice(ctx, deviceHash)
	if err != nil {
		return "", nil, err
	}
	if st.UserCodeHash != userCodeHash || !st.ExpiresAt.After(s.now()) {
		return "", nil, ErrNotFound
	}
	return deviceHash, st, nil
}

// DecideDevice records the person's answer to a pending device
// authorization: approved with grant, or denied (grant then says who
// denied). Unknown or expired: ErrNotFound; already decided otherwise:
// ErrConflict.
func (s *Store) DecideDevice(ctx context.Context, deviceHash string, approve bool, grant *DeviceGrant) error {
	raw, err := encode(grant, "device grant")
	if err != nil {
		return err
	}
	st := DeviceDenied
	if approve {
		st = DeviceApproved
	}
	_, status, err := s.runScript(ctx, decideDevice, []string{s.kDevice(deviceHash)}, unixMs(s.now()), st, raw)
	switch {
	case err != nil:
		return err
	case status == deviceUnknown:
		return ErrNotFound
	case status == deviceDecided:
		return ErrConflict
	}
	return nil
}

// PollDevice is one token request's poll of a device authorization (RFC
// 8628 §3.4, §3.5). pollID names the request: sent twice, the poll
// answers the same. A pending authorization records the poll and answers
// DevicePending, or DeviceSlowDown with the grown interval when it came
// before the interval passed; a denied one DeviceDenied; an expired one
// DeviceExpired; a consumed one DeviceUsed. An approved one is consumed
// when prepared (the caller decided the issuance from the approval
// GetDevice read): the answer is "ok" with the grant, exactly once
// across concurrent polls; unprepared, DeviceNotReady. Unknown:
// ErrNotFound.
func (s *Store) PollDevice(ctx context.Context, deviceHash, pollID string, prepared bool) (*DevicePoll, error) {
	flag := "0"
	if prepared {
		flag = "1"
	}
	res, status, err := s.runScript(ctx, pollDevice, []string{s.kDevice(deviceHash)},
		unixMs(s.now()), pollID, flag, pollID, DeviceSlowDownStep.Milliseconds())
	if err != nil {
		return nil, err
	}
	if status == deviceUnknown {
		return nil, ErrNotFound
	}
	ms, _ := strconv.ParseInt(str(res, 1), 10, 64)
	p := &DevicePoll{Outcome: status, Interval: time.Duration(ms) * time.Millisecond}
	if status == deviceIssued {
		p.Outcome = DeviceConsumed
		if p.Grant, err = decode[DeviceGrant](str(res, 2), "device grant"); err != nil {
			return nil, err
		}
	}
	return p, nil
}
