package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// addSessionClient: KEYS login; ARGV field, value. Only a session that
// has not ended gains a client.
var addSessionClient = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'nf'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {'ok'}
`)

// indexUserLogin: KEYS user-logins; ARGV sid, exp ms, now ms, max.
// Drops sessions that have ended by now, keeps the index as long as its
// latest session, and returns the sids beyond the newest max (those
// ending soonest, so the oldest sign-ins): the caller ends them, which
// takes them out of the index. They are not dropped here: a session
// missing from the index would escape "sign out everywhere".
var indexUserLogin = redis.NewScript(expireWithLatest + `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
expire_with_latest(ARGV[3], KEYS[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
local out = {'ok'}
if over > 0 then
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, over - 1)) do
    if sid ~= ARGV[1] then table.insert(out, sid) end
  end
end
return out
`)

// MaxUserSessions bounds the signed-in browser sessions of one user:
// signing in beyond it ends the oldest (SaveSessionLogin returns them),
// so the user's index, the account page that lists it and a "sign out
// everywhere" stay bounded whatever a script that signs in in a loop
// does.
const MaxUserSessions = 32

// A client's field in a login is loginClientField + its id; its value is
// loginGenerationMark + the client's generation when it signed in, or
// "1" where an older version wrote it (the generation is unknown).
const (
	loginClientField    = "c:"
	loginGenerationMark = "g:"
)

// SaveSessionLogin records the session under its sid and in its user's
// index, and returns the sids of the user's sessions beyond
// MaxUserSessions, for the caller to end. The two keys live in different
// slots (Cluster cannot run one script on both): each write is
// idempotent, and both are written before the browser session itself
// exists (web: signIn), so a live session is never missing from the
// index; a sid missing from the index only means an admin's "sign this
// user out everywhere" misses a session that the user is signing in to.
// The index itself is changed by one script: pruned of ended sessions,
// bounded, expiring with its latest session.
func (s *Store) SaveSessionLogin(ctx context.Context, l *SessionLogin) ([]string, error) {
	if err := checkID("sid", l.SID); err != nil {
		return nil, err
	}
	if err := checkID("user", l.UserID); err != nil {
		return nil, err
	}
	ttl := l.ExpiresAt.Sub(s.now())
	if ttl <= 0 {
		return nil, errors.New("storage: session login already expired")
	}
	key := s.kLogin(l.SID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "user", l.UserID, "session", l.SessionHash, "exp", unixMs(l.ExpiresAt))
		p.PExpire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: save session login: %w", err)
	}
	res, _, err := s.runScript(ctx, indexUserLogin, []string{s.kUserLogins(l.UserID)},
		l.SID, unixMs(l.ExpiresAt), unixMs(s.now()), MaxUserSessions)
	if err != nil {
		return nil, err
	}
	var over []string
	for i := 1; i < len(res); i++ {
		over = append(over, str(res, i))
	}
	return over, nil
}

// AddSessionClient notes clientID, of generation, in sid's session.
func (s *Store) AddSessionClient(ctx context.Context, sid, clientID, generation string) error {
	if checkID("sid", sid) != nil {
		return ErrNotFound
	}
	_, status, err := s.runScript(ctx, addSessionClient, []string{s.kLogin(sid)},
		loginClientField+clientID, loginGenerationMark+generation)
	if err != nil {
		return err
	}
	if status == "nf" {
		return ErrNotFound
	}
	return nil
}

// GetSessionLogin returns sid's session with its clients, sorted.
func (s *Store) GetSessionLogin(ctx context.Context, sid string) (*SessionLogin, error) {
	if checkID("sid", sid) != nil {
		return nil, ErrNotFound
	}
	fields, err := s.rdb.HGetAll(ctx, s.kLogin(sid)).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: get session login: %w", err)
	}
	return s.sessionLogin(sid, fields)
}

// sessionLogin builds sid's session from its HASH fields; ErrNotFound if
// it has ended.
func (s *Store) sessionLogin(sid string, fields map[string]string) (*SessionLogin, error) {
	l := &SessionLogin{SID: sid, UserID: fields["user"], SessionHash: fields["session"], ExpiresAt: fromMs(fields["exp"])}
	if l.UserID == "" || !s.now().Before(l.ExpiresAt) {
		return nil, ErrNotFound
	}
	for f, v := range fields {
		if c, ok := strings.CutPrefix(f, loginClientField); ok {
			l.Clients = append(l.Clients, c)
			if g, known := strings.CutPrefix(v, loginGenerationMark); known {
				if l.ClientGenerations == nil {
					l.ClientGenerations = map[string]string{}
				}
				l.ClientGenerations[c] = g
			}
		}
	}
	sort.Strings(l.Clients)
	return l, nil
}

// UserSessionLogins reads the user's index, then every session in one
// pipeline (the sessions live in different slots).
func (s *Store) UserSessionLogins(ctx context.Context, userID string) ([]*SessionLogin, error) {
	if checkID("user", userID) != nil {
		return nil, nil
	}
	sids, err := s.rdb.ZRangeByScore(ctx, s.kUserLogins(userID), &redis.ZRangeBy{
		Min: fmt.Sprint(unixMs(s.now()) + 1), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: list session logins: %w", err)
	}
	if len(sids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.MapStringStringCmd, 0, len(sids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, sid := range sids {
			cmds = append(cmds, p.HGetAll(ctx, s.kLogin(sid)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: get session logins: %w", err)
	}
	var out []*SessionLogin
	for i, sid := range sids {
		l, err := s.sessionLogin(sid, cmds[i].Val())
		if err != nil {
			continue // ended (ErrNotFound is its only error)
		}
		if l.UserID == userID {
			out = append(out, l)
		}
	}
	return out, nil
}

// DeleteSessionLogin forgets sid and removes it from the user's index.
func (s *Store) DeleteSessionLogin(ctx context.Context, userID, sid string) error {
	if checkID("sid", sid) != nil {
		return nil
	}
	if err := s.rdb.Del(ctx, s.kLogin(sid)).Err(); err != nil {
		return fmt.Errorf("storage: delete session login: %w", err)
	}
	if userID == "" {
		return nil
	}
	if err := s.rdb.ZRem(ctx, s.kUserLogins(userID), sid).Err(); err != nil {
		return fmt.Errorf("storage: delete session login: %w", err)
	}
	return nil
}
