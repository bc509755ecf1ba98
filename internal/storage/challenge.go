package storage

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// ChallengeSession is the auth_session of the authorization challenge
// endpoint (draft-ietf-oauth-first-party-apps-04 §5.4): a user who proved
// the password and must now prove a second factor, at one client, for one
// PKCE challenge. It is stored only after a correct password, under the
// SHA-256 of the auth_session value.
type ChallengeSession struct {
	ClientID         string   `json:"client_id"`
	ClientGeneration string   `json:"client_generation,omitempty"`
	UserID           string   `json:"user_id"`
	Scope            []string `json:"scope,omitempty"` // the request's scope, as asked
	Resources        []string `json:"resources,omitempty"`
	CodeChallenge    string   `json:"code_challenge"`
}

// saveChallenge: KEYS session; ARGV json, ttl ms. Never overwritten; a
// second delivery of the same save answers 'ok'.
var saveChallenge = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'data') == ARGV[1] then return {'ok'} end
  return {'conflict'}
end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'tries', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'ok'}
`)

// tryChallenge: KEYS session; ARGV max tries. Counts one attempt and
// returns the session; the attempt past the last ends it.
var tryChallenge = redis.NewScript(`
local d = redis.call('HGET', KEYS[1], 'data')
if not d then return {'nf'} end
local n = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if n > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {'spent'}
end
return {'ok', d}
`)

// takeChallenge: KEYS session. Ends the session; only one taker wins.
var takeChallenge = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 1 then return {'ok'} end
return {'nf'}
`)

// SaveChallenge stores an auth_session under its hash for ttl.
func (s *Store) SaveChallenge(ctx context.Context, hash string, cs *ChallengeSession, ttl time.Duration) error {
	if hash == "" || ttl <= 0 {
		return errors.New("storage: bad challenge session")
	}
	raw, err := encode(cs, "challenge session")
	if err != nil {
		return err
	}
	_, status, err := s.runScript(ctx, saveChallenge, []string{s.kChallenge(hash)}, raw, max(ttl.Milliseconds(), 1))
	if err != nil {
		return err
	}
	if status == "conflict" {
		return ErrConflict
	}
	return nil
}

// TryChallenge counts one attempt on the session and returns it. Unknown,
// expired, used, or past maxTries attempts: ErrNotFound. It is never
// re-sent (redelivery.go): a second delivery would count twice.
func (s *Store) TryChallenge(ctx context.Context, hash string, maxTries int) (*ChallengeSession, error) {
	res, status, err := s.runScriptOnce(ctx, tryChallenge, []string{s.kChallenge(hash)}, maxTries)
	if err != nil {
		return nil, err
	}
	if status != "ok" {
		return nil, ErrNotFound
	}
	return decode[ChallengeSession](str(res, 1), "challenge session")
}

// TakeChallenge ends the session: the first call wins, every later one
// (or one on an unknown session) is ErrNotFound.
func (s *Store) TakeChallenge(ctx context.Context, hash string) error {
	_, status, err := s.runScriptOnce(ctx, takeChallenge, []string{s.kChallenge(hash)})
	if err != nil {
		return err
	}
	if status != "ok" {
		return ErrNotFound
	}
	return nil
}
