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

// MaxRecoveryCodes bounds how many recovery codes one user holds.
const MaxRecoveryCodes = 16

// TOTPFactor is a TOTP secret (RFC 6238) as kept in Redis. Sealed is
// opaque here: the account package encrypts the secret with the key
// encryption key before it is stored. ID tells one enrolment from the
// next, so that a code checked against a removed secret cannot spend a
// time step of its successor.
type TOTPFactor struct {
	ID        string    `json:"id"`
	Sealed    string    `json:"sealed"`
	CreatedAt time.Time `json:"created_at"`
	// Until bounds an enrolment not yet confirmed; zero once confirmed.
	Until time.Time `json:"until,omitzero"`
}

// SecondFactors are a user's second factors (passkeys live elsewhere).
type SecondFactors struct {
	// TOTP is the confirmed TOTP factor; nil without one.
	TOTP *TOTPFactor
	// PendingTOTP is an enrolment shown but not yet confirmed by a code;
	// nil when none is live.
	PendingTOTP *TOTPFactor
	// RecoveryLeft counts the unused recovery codes.
	RecoveryLeft int
	// RecoveryUsedAt is when a recovery code was last used (zero: never
	// since the codes were made).
	RecoveryUsedAt time.Time
}

// Results of UseTOTPStep and UseRecoveryCode.
var (
	// ErrFactorReplayed: the TOTP time step (or an earlier one) was used
	// already; nothing changed.
	ErrFactorReplayed = errors.New("storage: one-time code already used")
)

// GetSecondFactors returns the user's second factors; a user without any
// gets a zero SecondFactors, not ErrNotFound.
func (s *Store) GetSecondFactors(ctx context.Context, userID string) (*SecondFactors, error) {
	fields, err := s.rdb.HGetAll(ctx, s.kMFA(userID)).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: get second factors: %w", classify(err))
	}
	out := &SecondFactors{}
	if raw, ok := fields["totp"]; ok {
		if out.TOTP, err = decode[TOTPFactor](raw, "totp factor"); err != nil {
			return nil, err
		}
	}
	if raw, ok := fields["pending"]; ok {
		p, err := decode[TOTPFactor](raw, "pending totp factor")
		if err != nil {
			return nil, err
		}
		if s.now().Before(p.Until) {
			out.PendingTOTP = p
		}
	}
	for name := range fields {
		if len(name) > 3 && name[:3] == "rc:" {
			out.RecoveryLeft++
		}
	}
	if ms, err := strconv.ParseInt(fields["rc_used"], 10, 64); err == nil {
		out.RecoveryUsedAt = time.UnixMilli(ms).UTC()
	}
	return out, nil
}

// setPendingTOTP: KEYS mfa; ARGV pending JSON, ttl ms. A record that
// holds nothing else (no confirmed factor) expires with the enrolment.
var setPendingTOTP = redis.NewScript(`
redis.call('HSET', KEYS[1], 'pending', ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'totp_id') == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return {'ok'}
`)

// SetPendingTOTP stores an enrolment that counts only once ConfirmTOTP
// sees a code of it; it replaces an earlier unconfirmed one, so a user
// holds at most one. A user without a confirmed factor keeps nothing
// past f.Until.
func (s *Store) SetPendingTOTP(ctx context.Context, userID string, f *TOTPFactor) error {
	ttl := f.Until.Sub(s.now())
	if ttl <= 0 {
		return errors.New("storage: pending totp already expired")
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("storage: encode pending totp: %w", err)
	}
	_, _, err = s.runScript(ctx, setPendingTOTP, []string{s.kMFA(userID)}, string(raw), max(ttl.Milliseconds(), 1))
	return err
}

// confirmTOTP: KEYS mfa; ARGV pending id, now (ms), step, confirmed JSON,
// then the recovery code hashes. Moves the live pending enrolment of that
// id to the confirmed factor with step as its last used time step, and
// replaces the recovery codes, in one step.
var confirmTOTP = redis.NewScript(`
local raw = redis.call('HGET', KEYS[1], 'pending')
if not raw then return {'gone'} end
local p = cjson.decode(raw)
if p['id'] ~= ARGV[1] then return {'gone'} end
redis.call('HDEL', KEYS[1], 'pending')
redis.call('PERSIST', KEYS[1])
redis.call('HSET', KEYS[1], 'totp', ARGV[4], 'totp_id', ARGV[1], 'step', ARGV[3])
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 3) == 'rc:' or f == 'rc_used' then redis.call('HDEL', KEYS[1], f) end
end
for i = 5, #ARGV do redis.call('HSET', KEYS[1], 'rc:' .. ARGV[i], '1') end
return {'ok'}
`)

// ConfirmTOTP makes the pending enrolment id the user's TOTP factor, step
// (the confirming code's) its last used time step, and codeHashes the
// user's recovery codes, in one atomic step; ErrNotFound when that
// enrolment is no longer pending.
func (s *Store) ConfirmTOTP(ctx context.Context, userID, id string, step int64, codeHashes []string) error {
	f, err := s.GetSecondFactors(ctx, userID)
	if err != nil {
		return err
	}
	if f.PendingTOTP == nil || f.PendingTOTP.ID != id || len(codeHashes) > MaxRecoveryCodes {
		return ErrNotFound
	}
	confirmed := *f.PendingTOTP
	confirmed.Until = time.Time{}
	raw, err := json.Marshal(&confirmed)
	if err != nil {
		return fmt.Errorf("storage: encode totp: %w", err)
	}
	args := []any{id, s.now().UnixMilli(), step, string(raw)}
	for _, h := range codeHashes {
		args = append(args, h)
	}
	_, status, err := s.runScript(ctx, confirmTOTP, []string{s.kMFA(userID)}, args...)
	if err != nil {
		return err
	}
	if status != "ok" {
		return ErrNotFound
	}
	return nil
}

// useTOTPStep: KEYS mfa; ARGV totp id, step. Records step as the last used
// time step of that factor if it is later than the last one.
var useTOTPStep = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'totp_id') ~= ARGV[1] then return {'gone'} end
local last = tonumber(redis.call('HGET', KEYS[1], 'step') or '-1')
if tonumber(ARGV[2]) <= last then return {'replayed'} end
redis.call('HSET', KEYS[1], 'step', ARGV[2])
return {'ok'}
`)

// UseTOTPStep spends a TOTP time step of the user's factor totpID: a code
// is accepted once, and no code of an earlier step after it (RFC 6238
// §5.2). ErrFactorReplayed for such a step, ErrNotFound when the factor
// was removed or replaced. Never re-sent (a second delivery would read as
// a replay).
func (s *Store) UseTOTPStep(ctx context.Context, userID, totpID string, step int64) error {
	_, status, err := s.runScriptOnce(ctx, useTOTPStep, []string{s.kMFA(userID)}, totpID, step)
	switch {
	case err != nil:
		return err
	case status == "replayed":
		return ErrFactorReplayed
	case status != "ok":
		return ErrNotFound
	}
	return nil
}

// useRecoveryCode: KEYS mfa; ARGV code hash, now (ms). Deletes the code
// and records when one was used; answers how many are left.
var useRecoveryCode = redis.NewScript(`
if redis.call('HDEL', KEYS[1], 'rc:' .. ARGV[1]) == 0 then return {'unknown'} end
redis.call('HSET', KEYS[1], 'rc_used', ARGV[2])
local left = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 3) == 'rc:' then left = left + 1 end
end
return {'ok', left}
`)

// UseRecoveryCode spends the recovery code of that hash and reports how
// many are left; ErrNotFound when the user holds no such code (used, or
// replaced). Never re-sent.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, codeHash string) (int, error) {
	if err := checkID("recovery code", codeHash); err != nil {
		return 0, ErrNotFound
	}
	res, status, err := s.runScriptOnce(ctx, useRecoveryCode, []string{s.kMFA(userID)}, codeHash, s.now().UnixMilli())
	if err != nil {
		return 0, err
	}
	if status != "ok" || len(res) < 2 {
		return 0, ErrNotFound
	}
	left, _ := res[1].(int64)
	return int(left), nil
}

// replaceRecoveryCodes: KEYS mfa; ARGV the new hashes. Only for a user
// with a confirmed TOTP factor.
var replaceRecoveryCodes = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'totp_id') == 0 then return {'none'} end
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 3) == 'rc:' or f == 'rc_used' then redis.call('HDEL', KEYS[1], f) end
end
for i = 1, #ARGV do redis.call('HSET', KEYS[1], 'rc:' .. ARGV[i], '1') end
return {'ok'}
`)

// ReplaceRecoveryCodes voids the user's recovery codes and stores these
// instead, in one step; ErrNotFound when the user has no second factor
// for them to stand in for.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, codeHashes []string) error {
	if len(codeHashes) == 0 || len(codeHashes) > MaxRecoveryCodes {
		return fmt.Errorf("storage: %d recovery codes", len(codeHashes))
	}
	args := make([]any, len(codeHashes))
	for i, h := range codeHashes {
		args[i] = h
	}
	_, status, err := s.runScript(ctx, replaceRecoveryCodes, []string{s.kMFA(userID)}, args...)
	if err != nil {
		return err
	}
	if status != "ok" {
		return ErrNotFound
	}
	return nil
}

// RemoveSecondFactors forgets the user's TOTP factor, any pending
// enrolment and the recovery codes (which stand in for it).
func (s *Store) RemoveSecondFactors(ctx context.Context, userID string) error {
	if err := s.rdb.Del(ctx, s.kMFA(userID)).Err(); err != nil {
		return fmt.Errorf("storage: remove second factors: %w", classify(err))
	}
	return nil
}
