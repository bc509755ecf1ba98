package storage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bounds of the per-user memory of relying parties (UserClientStore).
const (
	// MaxUserClients is how many entries (client, sid) one user's memory
	// holds in all: clients are registered by administrators, so a user
	// reaches more only on a server with that many apps taking logout
	// tokens, or through that many browser sessions whose apps' sessions
	// may still last; the entries ending soonest are dropped first.
	MaxUserClients = 64
	// MaxUserClientLife caps how far ahead an entry is kept, whatever the
	// token lifetimes are configured to.
	MaxUserClientLife = 366 * 24 * time.Hour
)

// userClientMember is an entry's member in the user-clients ZSET: the
// client id, a space, and the sid of the browser session it signed in
// through ("" without one: the password grant). A sid never holds a space
// (RememberUserClient refuses one), so the last space splits the two
// whatever the client id holds.
func userClientMember(clientID, sid string) string { return clientID + " " + sid }

func parseUserClientMember(m string) (clientID, sid string) {
	i := strings.LastIndexByte(m, ' ')
	if i < 0 {
		return m, "" // never written; read as a client without a sid
	}
	return m[:i], m[i+1:]
}

// rememberUserClient: KEYS user-clients; ARGV member (userClientMember),
// until ms, now ms, max entries. Keeps the later until of the same
// member, drops ended entries and those ending soonest beyond max, and
// lets the key live as long as its latest entry. Running it twice leaves
// what running it once did.
var rememberUserClient = redis.NewScript(expireWithLatest + `
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not old or tonumber(old) < tonumber(ARGV[2]) then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1) end
expire_with_latest(ARGV[3], KEYS[1])
return {'ok'}
`)

// forgetUserClients: KEYS user-clients; ARGV pairs of member, until
// ms. An entry extended past the until it was read with stays.
var forgetUserClients = redis.NewScript(`
for i = 1, #ARGV, 2 do
  local cur = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if cur and tonumber(cur) <= tonumber(ARGV[i+1]) then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return {'ok'}
`)

// RememberUserClient implements UserClientStore.
func (s *Store) RememberUserClient(ctx context.Context, userID, clientID, sid string, until time.Time) error {
	if err := checkID("user", userID); err != nil {
		return err
	}
	if err := checkID("client", clientID); err != nil {
		return err
	}
	if sid != "" {
		if err := checkID("sid", sid); err != nil {
			return err
		}
		if strings.ContainsRune(sid, ' ') {
			return fmt.Errorf("storage: sid %q must not contain a space", sid)
		}
	}
	now := s.now()
	if limit := now.Add(MaxUserClientLife); until.After(limit) {
		until = limit
	}
	if !until.After(now) {
		return nil // nothing left to remember
	}
	_, _, err := s.runScript(ctx, rememberUserClient, []string{s.kUserClients(userID)},
		userClientMember(clientID, sid), unixMs(until), unixMs(now), MaxUserClients)
	return err
}

// UserClients implements UserClientStore.
func (s *Store) UserClients(ctx context.Context, userID string) ([]UserClient, error) {
	if checkID("user", userID) != nil {
		return nil, nil
	}
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, s.kUserClients(userID), &redis.ZRangeBy{
		Min: fmt.Sprint(unixMs(s.now()) + 1), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("storage: list user clients: %w", err)
	}
	out := make([]UserClient, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		id, sid := parseUserClientMember(m)
		out = append(out, UserClient{ClientID: id, SID: sid, Until: time.UnixMilli(int64(z.Score)).UTC()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ClientID != out[j].ClientID {
			return out[i].ClientID < out[j].ClientID
		}
		return out[i].SID < out[j].SID
	})
	return out, nil
}

// ForgetUserClients implements UserClientStore.
func (s *Store) ForgetUserClients(ctx context.Context, userID string, cs []UserClient) error {
	if len(cs) == 0 || checkID("user", userID) != nil {
		return nil
	}
	args := make([]any, 0, 2*len(cs))
	for _, c := range cs {
		args = append(args, userClientMember(c.ClientID, c.SID), unixMs(c.Until))
	}
	_, _, err := s.runScript(ctx, forgetUserClients, []string{s.kUserClients(userID)}, args...)
	return err
}
