package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedeemedCodeRetention is the least time a redeemed code's record is
// kept after redemption, so that a replay is recognised (and the tokens
// of the first redemption revoked, RFC 6749 §4.1.2) rather than answered
// as an unknown code. It is extended to the access token's expiry when
// that is later.
const RedeemedCodeRetention = 10 * time.Minute

// saveCode: KEYS code; ARGV json, exp ms, ttl ms. A hash is never
// overwritten: that would reset a redemption. A second delivery of the
// same save finds its own record and answers 'ok'.
var saveCode = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'code') == ARGV[1] then return {'ok'} end
  return {'conflict'}
end
redis.call('HSET', KEYS[1], 'code', ARGV[1], 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'ok'}
`)

// redeemCode: KEYS code; ARGV now ms, redemption json, keep ms.
// Replies: {'nf'} | {'reused', redemption} | {'ok'}. It runs only after
// the presenter passed every check on the record GetCode read, which
// cannot have changed since (saveCode never overwrites, and the key is
// the hash of 256 random bits): the claim is "mark used if still unused".
// The redemption (fresh token ids) is the request's identity: a second
// delivery of the same redemption answers 'ok' again, not 'reused'.
var redeemCode = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'code', 'exp', 'red')
if not f[1] then return {'nf'} end
if f[3] == ARGV[2] then return {'ok'} end
if f[3] then return {'reused', f[3]} end
if tonumber(f[2]) <= tonumber(ARGV[1]) then return {'nf'} end
redis.call('HSET', KEYS[1], 'red', ARGV[2])
local keep = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return {'ok'}
`)

// SaveCode stores code under codeHash until code.ExpiresAt. Saving the
// same hash twice is ErrConflict.
func (s *Store) SaveCode(ctx context.Context, codeHash string, code *AuthCode) error {
	if codeHash == "" {
		return errors.New("storage: empty code hash")
	}
	ttl := code.ExpiresAt.Sub(s.now())
	if ttl <= 0 {
		return errors.New("storage: code already expired")
	}
	raw, err := encode(code, "code")
	if err != nil {
		return err
	}
	_, status, err := s.runScriptAcked(ctx, saveCode, []string{s.kCode(codeHash)},
		raw, unixMs(code.ExpiresAt), max(ttl.Milliseconds(), 1))
	if err != nil {
		return err
	}
	if status == "conflict" {
		return ErrConflict
	}
	return nil
}

// GetCode reads the code without using it up, so that the token endpoint
// can check its presenter (client, redirect_uri, PKCE verifier, DPoP key)
// before RedeemCode: a presenter who fails a check must leave the code to
// the client it was issued to. A redeemed code is returned while its
// record is kept (RedeemedCodeRetention), so that its rightful presenter
// replaying it reaches RedeemCode and ErrCodeReused; an unknown code, or
// an expired one never redeemed, is ErrNotFound.
func (s *Store) GetCode(ctx context.Context, codeHash string) (*AuthCode, error) {
	f, err := s.rdb.HMGet(ctx, s.kCode(codeHash), "code", "exp", "red").Result()
	if err != nil {
		return nil, fmt.Errorf("storage: get code: %w", classify(err))
	}
	raw, _ := f[0].(string)
	if raw == "" {
		return nil, ErrNotFound
	}
	if redeemed, _ := f[2].(string); redeemed == "" {
		exp, _ := f[1].(string)
		if ms, err := strconv.ParseInt(exp, 10, 64); err != nil || ms <= unixMs(s.now()) {
			return nil, ErrNotFound
		}
	}
	return decode[AuthCode](raw, "code")
}

// RedeemCode marks the code used in one script and records what is issued
// from it; call it only once the presenter passed every check on the
// record GetCode returned. The first call returns issue; a later one
// returns the first call's redemption and ErrCodeReused; an unknown or
// expired code is ErrNotFound.
func (s *Store) RedeemCode(ctx context.Context, codeHash string, issue CodeRedemption) (*CodeRedemption, error) {
	now := s.now()
	raw, err := encode(issue, "redemption")
	if err != nil {
		return nil, err
	}
	keep := max(RedeemedCodeRetention, issue.AccessExpiresAt.Sub(now))
	res, status, err := s.runScript(ctx, redeemCode, []string{s.kCode(codeHash)},
		unixMs(now), raw, keep.Milliseconds())
	if err != nil {
		return nil, err
	}
	switch status {
	case "ok":
		return &issue, nil
	case "reused":
		first, err := decode[CodeRedemption](str(res, 1), "redemption")
		if err != nil {
			return nil, err
		}
		return first, ErrCodeReused
	default:
		return nil, ErrNotFound
	}
}
